"""The propagation profile against autograd Jacobians of the unrolled network (float64)."""

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from rnnstudy.config import ModelConfig
from rnnstudy.instruments import gradtime
from rnnstudy.instruments.gradtime import Injection, direction_backward, directions
from rnnstudy.instruments.probe import run_probe
from rnnstudy.instruments.propagation import lag_profile, source_steps, summarise
from rnnstudy.models import RecurrentNet
from rnnstudy.models.cells import step

CASES = [
    ("rnn", "tanh", 1, False),
    ("rnn", "relu", 2, False),
    ("lstm", "tanh", 1, False),
    ("lstm", "tanh", 2, True),
    ("gru", "tanh", 1, True),
    ("gru", "tanh", 2, False),
]


def _model(cell, nonlinearity, layers, bi, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        cell=cell,
        nonlinearity=nonlinearity,
        hidden_size=4,
        num_layers=layers,
        bidirectional=bi,
        **kw,
    )
    return RecurrentNet(cfg, input_size=3, output_size=2, readout="per_step").double()


def _trajectory(cell, p, x, h0, c0, nonlinearity):
    """States s_t (processing order) of one direction, by the explicit per-step cell."""
    state = (h0, c0) if cell == "lstm" else h0
    out = []
    for t in range(x.shape[1]):
        state = step(cell, p, x[:, t], state, nonlinearity)
        out.append(state)
    return out


def _oracle_norm(cell, p, x, states, b, t, s, u, nonlinearity, H):
    """‖uᵀ ∂s_s/∂s_t‖ for example b, from the Jacobian of the composed step map."""

    def flow(z):
        state = (z[:H].unsqueeze(0), z[H:].unsqueeze(0)) if cell == "lstm" else z.unsqueeze(0)
        for tt in range(t + 1, s + 1):
            state = step(cell, p, x[b : b + 1, tt], state, nonlinearity)
        return torch.cat([state[0][0], state[1][0]]) if cell == "lstm" else state[0]

    st = states[t]
    z0 = torch.cat([st[0][b], st[1][b]]) if cell == "lstm" else st[b]
    jac = jacobian(flow, z0)  # (S, S): ∂s_s/∂s_t
    return float(torch.linalg.vector_norm(u @ jac))


@pytest.mark.parametrize("cell,nonlinearity,layers,bi", CASES)
def test_profile_matches_autograd_jacobians(cell, nonlinearity, layers, bi, monkeypatch):
    monkeypatch.setattr(gradtime, "CHUNK", 3)  # L = 7: blocks of 1, 3, 3 steps
    model = _model(cell, nonlinearity, layers, bi)
    H = 4
    S = 2 * H if cell == "lstm" else H
    B, L = 3, 7
    x = torch.randn(B, L, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fwd = model(x)
    g = torch.Generator().manual_seed(2)
    checked = 0
    for _key, p, xs, hs, h0, c0, _rev, _li in directions(model, fwd.inputs, fwd.layers):
        u = torch.randn(B, S, generator=g, dtype=torch.float64)
        u = u / u.norm(dim=1, keepdim=True)
        src = torch.tensor([6, 4, 1])
        out = direction_backward(
            cell, p, xs, hs.detach(), None, h0, c0, nonlinearity, inject=Injection(u, src)
        )
        prop = out["prop"]
        states = _trajectory(cell, p, xs, h0, c0 if cell == "lstm" else None, nonlinearity)
        hseq = torch.stack([s[0] if cell == "lstm" else s for s in states], dim=1)
        torch.testing.assert_close(hseq, hs.detach(), rtol=1e-10, atol=1e-12)
        for b in range(B):
            s = int(src[b])
            assert prop[b, s] == pytest.approx(1.0, abs=1e-12)
            # exactly 0 by construction: nothing is injected after s, and 0 · W_hh = 0
            assert torch.all(prop[b, s + 1 :] == 0)
            for t in range(s):
                want = _oracle_norm(cell, p, xs, states, b, t, s, u[b], nonlinearity, H)
                assert float(prop[b, t]) == pytest.approx(want, rel=1e-8, abs=1e-14)
                checked += 1
    assert checked == (6 + 4 + 1) * layers * (2 if bi else 1)


def assert_same_gradient(got, want):
    """The gradient row with and without the propagation row: equal up to rounding (float64,
    rtol 1e-12, atol 1e-12 of the largest element). Not bitwise: with the propagation row
    every step multiplies a (2B, ·) matrix instead of a (B, ·) one, and BLAS may block,
    vectorise and sum the two shapes differently (on another machine 226 of 320 elements
    differed by 4.4e-16)."""
    scale = float(want.abs().max())
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12 * scale)


def test_issue21_item1_gradient_row_comparison_tolerates_rounding():
    """The check of the shared pass accepts last-bit differences (what another machine's BLAS
    gives; the old check, rtol=0 atol=0, failed on them) and still catches a real change."""
    g = torch.randn(2, 40, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ulp = torch.from_numpy(np.nextafter(g.numpy(), np.inf))  # one ulp up, every element
    assert not torch.equal(ulp, g)
    assert_same_gradient(ulp, g)
    assert_same_gradient(g + 1e-16 * g.abs().max(), g)
    with pytest.raises(AssertionError):
        assert_same_gradient(g * (1 + 1e-9), g)


def test_gradient_row_unchanged_by_the_propagation_row():
    """Sharing the backward pass does not change the per-time-step gradient (up to rounding:
    ``assert_same_gradient``)."""
    model = _model("lstm", "tanh", 1, False, seed=3)
    x = torch.randn(2, 40, 3, dtype=torch.float64)
    fwd = model(x)
    fwd.layers[0].retain_grad()
    fwd.out.square().sum().backward()
    (_key, p, xs, hs, h0, c0, _r, _l) = next(directions(model, fwd.inputs, fwd.layers))
    gr = fwd.layers[0].grad
    alone = direction_backward("lstm", p, xs, hs.detach(), gr, h0, c0)
    u = torch.nn.functional.normalize(torch.randn(2, 8, dtype=torch.float64), dim=1)
    inj = Injection(u, torch.tensor([39, 20]))
    shared = direction_backward("lstm", p, xs, hs.detach(), gr, h0, c0, inject=inj)
    for k in ("h", "c", "h_norm", "c_norm"):
        assert_same_gradient(shared[k], alone[k])
    only = direction_backward("lstm", p, xs, hs.detach(), None, h0, c0, inject=inj)
    torch.testing.assert_close(shared["prop"], only["prop"], rtol=1e-12, atol=1e-15)


class _Win:
    def __init__(self, fwd, start=0, state0=None):
        self.start, self.inputs, self.outputs = start, fwd.inputs, fwd.layers
        self.state0, self.grads = state0, [None] * len(fwd.layers)


def test_probe_uses_its_own_generator_and_covers_every_direction():
    model = _model("gru", "tanh", 2, True)
    x = torch.randn(5, 12, 3, dtype=torch.float64)
    with torch.no_grad():
        fwd = model(x)
    before = torch.get_rng_state()
    a = run_probe(model, [_Win(fwd)], torch.Generator().manual_seed(7), sources=4)
    assert torch.equal(torch.get_rng_state(), before)  # never the global RNG
    b = run_probe(model, [_Win(fwd)], torch.Generator().manual_seed(7), sources=4)
    assert set(a.rho) == {"l0", "l0_reverse", "l1", "l1_reverse"}
    for k in a.rho:
        assert a.rho[k].shape == (11,) and np.all(np.isfinite(a.rho[k]))
        # exact: same seed, same vectors, and the same op sequence on the same inputs in the
        # same process
        np.testing.assert_array_equal(a.rho[k], b.rho[k])


def test_windows_concatenate_into_the_whole_trajectory():
    """With TBPTT windows the profile is taken on the whole sequence: the same as unwindowed."""
    model = _model("lstm", "tanh", 1, False)
    x = torch.randn(4, 15, 3, dtype=torch.float64)
    with torch.no_grad():
        whole = model(x)
        first = model(x[:, :7])
        second = model(x[:, 7:], first.state)
    wins = [_Win(second, 7, first.state), _Win(first, 0)]
    one = run_probe(model, [_Win(whole)], torch.Generator().manual_seed(1), sources=3)
    split = run_probe(model, wins, torch.Generator().manual_seed(1), sources=3, gradients=False)
    np.testing.assert_allclose(split.rho["l0"], one.rho["l0"], rtol=1e-10)


def test_summaries_on_known_profiles():
    k = np.arange(1, 400)
    s = summarise(0.5 ** (k / 10))
    assert s["half_life"] == pytest.approx(10.0)
    assert s["decay_per_step"] == pytest.approx(-math.log(2) / 10)
    assert s["reach"] == 100.0  # an integer lag, exact: 0.5**9.9 > 1e-3 > 0.5**10
    grow = summarise(2.0 ** (k[:50] / 5))
    assert grow["half_life"] == pytest.approx(-5.0) and math.isnan(grow["reach"])
    assert all(math.isnan(v) for v in summarise(np.full(5, np.nan)).values())


def test_sources_and_lag_profile():
    assert source_steps(100, 4) == [99, 74, 49, 24]
    assert source_steps(1, 4) == []
    prop = np.array([[0.125, 0.25, 0.5, 1.0], [0.5, 1.0, 0.0, 0.0]])
    rho = lag_profile(prop, np.array([3, 1]))
    np.testing.assert_allclose(rho, [(0.5 + 0.5) / 2, 0.25, 0.125])


def _tanh_rnn_profile(gain):
    torch.manual_seed(0)
    cfg = ModelConfig(cell="rnn", hidden_size=32, init="orthogonal", recurrent_gain=gain)
    model = RecurrentNet(cfg, input_size=3, output_size=2, readout="per_step").double()
    x = torch.randn(16, 120, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        fwd = model(x)
    res = run_probe(model, [_Win(fwd)], torch.Generator().manual_seed(0), sources=4, lyapunov=2)
    return summarise(res.rho["l0"]), res.lyapunov["l0"]


def test_lower_gain_shorter_half_life_more_negative_lyapunov():
    """Issue 11 Must show 2: a tanh RNN at recurrent gain 0.5 forgets faster than at 1.0."""
    low, lam_low = _tanh_rnn_profile(0.5)
    high, lam_high = _tanh_rnn_profile(1.0)
    assert 0 < low["half_life"] < high["half_life"]
    assert lam_low[0] < lam_high[0]
    assert low["reach"] < high["reach"] or math.isnan(high["reach"])
