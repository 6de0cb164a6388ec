"""The per-time-step gradient instrument against autograd on an explicitly unrolled loop."""

import pytest
import torch

from rnnstudy.config import ModelConfig
from rnnstudy.instruments.gradtime import layer_grads, reduce_norms
from rnnstudy.models import RecurrentNet
from tests.oracle import oracle_norms, unrolled_forward

CASES = [
    (cell, layers, bi, L, readout)
    for cell in ("rnn", "lstm", "gru")
    for layers, bi, L, readout in [
        (1, False, 7, "per_step"),
        (2, False, 13, "per_step"),
        (1, True, 9, "last"),
        (2, True, 5, "last"),
        (2, False, 11, "last"),
    ]
]


def _model(cell, layers, bi, readout, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(cell=cell, hidden_size=6, num_layers=layers, bidirectional=bi, **kw)
    return RecurrentNet(cfg, input_size=4, output_size=3, readout=readout).double()


def _fused_norms(model, x, loss_fn, state0=None):
    fwd = model(x, state0)
    for t in fwd.layers:
        t.retain_grad()
    loss_fn(fwd.out).backward()
    grads = [t.grad for t in fwd.layers]
    return reduce_norms(layer_grads(model, fwd.inputs, fwd.layers, grads, state0)), fwd


@pytest.mark.parametrize("cell,layers,bi,L,readout", CASES)
def test_matches_unrolled_oracle(cell, layers, bi, L, readout):
    model = _model(cell, layers, bi, readout)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, L, 4, generator=g, dtype=torch.float64)
    shape = (3, L, 3) if readout == "per_step" else (3, 3)
    w = torch.randn(shape, generator=g, dtype=torch.float64)

    def loss_fn(out):
        return (torch.tanh(out) * w).sum()

    ours, _ = _fused_norms(model, x, loss_fn)
    ref = oracle_norms(model, x, loss_fn)
    assert set(ours) == set(ref)
    if cell == "lstm":
        assert "l0_c" in ours
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_with_carried_state(cell):
    model = _model(cell, 2, False, "per_step", seed=3)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    h = torch.randn(1, 2, 6, generator=g, dtype=torch.float64)
    st = [(h, h * 0.5) if cell == "lstm" else h, (h * -1, h) if cell == "lstm" else -h]
    w = torch.randn(2, 6, 3, generator=g, dtype=torch.float64)

    def loss_fn(out):
        return (out * w).sum()

    ours, _ = _fused_norms(model, x, loss_fn, st)
    ref = oracle_norms(model, x, loss_fn, st)
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_unrolled_equals_fused(cell):
    for layers, bi, readout in [(1, False, "per_step"), (2, True, "last")]:
        model = _model(cell, layers, bi, readout, seed=5)
        x = torch.randn(2, 8, 4, dtype=torch.float64)
        torch.testing.assert_close(model(x).out, unrolled_forward(model, x))


def test_immediate_gradient_is_not_enough():
    """Many-to-one: the immediate gradient is zero before the last step; the total is not."""
    model = _model("lstm", 1, False, "last")
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    fwd = model(x)
    fwd.layers[0].retain_grad()
    fwd.out.sum().backward()
    immediate = fwd.layers[0].grad.norm(dim=-1).mean(0)
    assert torch.all(immediate[:-1] == 0)  # exact: the head reads only the last step
    total = reduce_norms(layer_grads(model, fwd.inputs, fwd.layers, [fwd.layers[0].grad]))["l0"]
    assert torch.all(total[:-1] > 0)
    ref = oracle_norms(model, x, lambda o: o.sum())["l0"]
    torch.testing.assert_close(total, ref, rtol=1e-5, atol=1e-12)
    assert not torch.allclose(immediate, ref)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_long_sequence_crosses_coefficient_chunks(cell):
    """T larger than the recurrence's coefficient chunk (32 steps): still equal to the oracle."""
    model = _model(cell, 1, False, "per_step", seed=4)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 70, 4, generator=g, dtype=torch.float64)
    w = torch.randn(2, 70, 3, generator=g, dtype=torch.float64)

    def loss_fn(out):
        return (out * w).sum()

    ours, _ = _fused_norms(model, x, loss_fn)
    ref = oracle_norms(model, x, loss_fn)
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-5, atol=1e-12)
