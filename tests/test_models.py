"""Model construction: fused vs per-step, init schemes, recurrent gain, forget bias."""

import numpy as np
import pytest
import torch

from rnnstudy.config import ModelConfig
from rnnstudy.models import RecurrentNet, param_label
from tests.oracle import unrolled_forward


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("init", ["default", "orthogonal", "identity", "xavier", "sparse"])
def test_per_step_path_equals_fused(cell, init):
    torch.manual_seed(0)
    cfg = ModelConfig(cell=cell, hidden_size=5, num_layers=2, init=init)
    m = RecurrentNet(cfg, 3, 4, "per_step").double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    torch.testing.assert_close(m(x).out, unrolled_forward(m, x))


def test_relu_rnn_per_step_equals_fused():
    cfg = ModelConfig(cell="rnn", nonlinearity="relu", hidden_size=5, init="identity")
    m = RecurrentNet(cfg, 3, 4, "per_step").double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(m(x).out, unrolled_forward(m, x))


@pytest.mark.parametrize("cell,blocks", [("rnn", 1), ("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_recurrent_gain_sets_spectral_radius(cell, blocks, gain):
    cfg = ModelConfig(cell=cell, hidden_size=16, num_layers=2, recurrent_gain=gain)
    m = RecurrentNet(cfg, 3, 2, "last")
    for layer in m.layers:
        for block in layer.weight_hh_l0.detach().chunk(blocks, 0):
            assert np.abs(np.linalg.eigvals(block.double().numpy())).max() == pytest.approx(
                gain, rel=1e-5
            )


def test_identity_init_and_forget_bias():
    m = RecurrentNet(ModelConfig(cell="rnn", hidden_size=4, init="identity"), 2, 2, "last")
    assert torch.equal(m.layers[0].weight_hh_l0.detach(), torch.eye(4))  # exact: a copy of eye
    assert torch.all(m.layers[0].bias_hh_l0 == 0)
    lstm = RecurrentNet(ModelConfig(cell="lstm", hidden_size=4, forget_bias=2.0), 2, 2, "last")
    b = (lstm.layers[0].bias_ih_l0 + lstm.layers[0].bias_hh_l0).detach()
    assert torch.all(b[4:8] == 2.0)


def test_param_labels():
    assert param_label("layers.1.weight_hh_l0_reverse") == "weight_hh_l1_reverse"
    assert param_label("layers.0.bias_ih_l0") == "bias_ih_l0"
    assert param_label("head.weight") == "head.weight"


def test_bidirectional_last_readout_sees_both_ends():
    torch.manual_seed(0)
    m = RecurrentNet(ModelConfig(cell="gru", hidden_size=4, bidirectional=True), 3, 2, "last")
    x = torch.randn(1, 6, 3)
    base = m(x).out
    x2 = x.clone()
    x2[:, 0] += 1.0  # only the backward direction's final state reads step 0 last
    assert not torch.allclose(base, m(x2).out)
