"""The ``sparse`` init (Pascanu et al. 2013's smart_tanh), its dense N(0, 0.1) variant, and ``xavier``
(Arjovsky et al. 2016: Glorot for every matrix including the readout, zero biases, forget bias 1)."""

import numpy as np
import pytest
import torch

from rnnstudy.config import ModelConfig
from rnnstudy.models import RecurrentNet
from rnnstudy.models.init import sparse_


def radius(w: torch.Tensor) -> float:
    return float(np.abs(np.linalg.eigvals(w.detach().double().numpy())).max())


@pytest.mark.parametrize("cell,blocks", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_sparse_has_15_nonzeros_per_row_and_radius_095(cell, blocks):
    torch.manual_seed(0)
    m = RecurrentNet(ModelConfig(cell=cell, hidden_size=50, init="sparse"), 6, 4, "last")
    for block in m.layers[0].weight_hh_l0.detach().chunk(blocks, 0):
        assert (block != 0).sum(dim=1).tolist() == [15] * 50
        assert radius(block) == pytest.approx(0.95, rel=1e-6)


def test_sparse_rows_differ_and_gain_overrides_radius():
    torch.manual_seed(1)
    cfg = ModelConfig(cell="rnn", hidden_size=40, init="sparse", recurrent_gain=1.3)
    w = RecurrentNet(cfg, 6, 4, "last").layers[0].weight_hh_l0.detach()
    assert radius(w) == pytest.approx(1.3, rel=1e-6)
    patterns = {tuple(np.flatnonzero(r.numpy())) for r in w}
    assert len(patterns) > 30  # positions drawn per row, not one shared mask


def test_sparse_input_readout_and_biases():
    torch.manual_seed(2)
    m = RecurrentNet(ModelConfig(cell="rnn", hidden_size=200, init="sparse"), 50, 30, "last")
    layer = m.layers[0]
    assert float(layer.weight_ih_l0.detach().std()) == pytest.approx(0.01, rel=0.05)
    assert float(m.head.weight.detach().std()) == pytest.approx(0.01, rel=0.05)
    for b in (layer.bias_ih_l0, layer.bias_hh_l0, m.head.bias):
        assert torch.all(b == 0)


def test_sparse_keeps_every_entry_when_fewer_than_15_columns():
    w = torch.empty(3, 8)
    torch.manual_seed(3)
    sparse_(w)
    assert torch.all(w != 0)
    w = torch.empty(5, 20)
    sparse_(w, nonzeros=4)
    assert (w != 0).sum(dim=1).tolist() == [4] * 5


def test_basic_tanh_is_dense_normal_01():
    torch.manual_seed(4)
    cfg = ModelConfig.model_construct(cell="rnn", hidden_size=200, init="basic_tanh")
    m = RecurrentNet(cfg, 50, 30, "last")
    w = m.layers[0].weight_hh_l0.detach()
    assert torch.all(w != 0)
    assert float(w.std()) == pytest.approx(0.1, rel=0.03)
    assert float(m.head.weight.detach().std()) == pytest.approx(0.1, rel=0.05)
    assert torch.all(m.layers[0].bias_hh_l0 == 0)


@pytest.mark.parametrize("cell,blocks", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_xavier_is_glorot_everywhere_with_zero_biases(cell, blocks):
    """amarshah/complex_RNN models.py:6-12 (bound sqrt(6/(n_in+n_out)), per gate matrix),
    :155-170 and :215-236 (zero biases, b_f = 1, Glorot out_mat, zero out_bias)."""
    torch.manual_seed(5)
    H, n_in, n_out = 128, 2, 9
    m = RecurrentNet(
        ModelConfig(cell=cell, hidden_size=H, init="xavier", forget_bias=1.0), n_in, n_out, "last"
    )
    layer = m.layers[0]
    for w, fan_in, fan_out in [
        (layer.weight_hh_l0, H, H),
        (layer.weight_ih_l0, n_in, H),
        (m.head.weight, H, n_out),
    ]:
        bound = float(np.sqrt(6.0 / (fan_in + fan_out)))
        for block in w.detach().chunk(blocks if w is not m.head.weight else 1, 0):
            assert float(block.abs().max()) <= bound
            assert float(block.abs().max()) > 0.9 * bound  # uniform up to the bound, not narrower
    assert torch.all(m.head.bias == 0) and torch.all(layer.bias_hh_l0 == 0)
    b = layer.bias_ih_l0.detach()
    if cell == "lstm":  # torch's gate order i, f, g, o: the forget block carries the bias
        assert torch.all(b[H : 2 * H] == 1.0)
        assert torch.all(b[:H] == 0) and torch.all(b[2 * H :] == 0)
    else:
        assert torch.all(b == 0)
