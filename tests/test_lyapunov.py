"""Lyapunov exponents (QR method) against numpy, a brute-force perturbed trajectory and the
slope of the propagation profile, in float64."""

import math

import numpy as np
import pytest
import torch

from rnnstudy.config import ModelConfig
from rnnstudy.instruments.lyapunov import EXAMPLES, direction_lyapunov, qr_exponents
from rnnstudy.instruments.probe import run_probe
from rnnstudy.instruments.propagation import summarise
from rnnstudy.models import RecurrentNet
from rnnstudy.models.cells import layer_params, step
from tests.oracle import oracle_lyapunov, step_jacobians


def test_qr_exponents_of_a_linear_recurrence_match_numpy():
    """h_t = W h_{t-1}: the exponents are the logs of the moduli of W's eigenvalues (here
    with a complex pair, whose two exponents are equal)."""
    rng = np.random.default_rng(0)
    n = 6
    s = rng.normal(size=(n, n)) + 3 * np.eye(n)  # a well-conditioned basis
    rot = 0.8 * np.array([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    d = np.zeros((n, n))
    d[:2, :2] = rot  # eigenvalues 0.8 e^{±0.7i}
    d[2:, 2:] = np.diag([0.95, -0.6, 0.3, 0.1])
    w = s @ d @ np.linalg.inv(s)
    want = np.sort(np.log(np.abs(np.linalg.eigvals(w))))[::-1][:4]
    wt = torch.from_numpy(w)
    q0 = torch.linalg.qr(torch.randn(3, n, 4, dtype=torch.float64))[0].transpose(1, 2)
    got = qr_exponents(lambda t, v: v @ wt.T, q0, 3000)  # (3 trajectories, 4)
    for row in got.numpy():
        np.testing.assert_allclose(row, want, atol=3e-3)


def _layer(cell, gain, seed=0, hidden=8):
    torch.manual_seed(seed)
    cfg = ModelConfig(cell=cell, hidden_size=hidden, init="orthogonal", recurrent_gain=gain)
    return RecurrentNet(cfg, input_size=3, output_size=2, readout="per_step").double()


@torch.no_grad()
def _brute_force_l1(cell, p, x, eps=1e-7, seed=0):
    """Mean over examples of (1/L) Σ_t ln(‖δs_t‖/ε) for a perturbation of the full state
    renormalised to ε after every step, both trajectories run through the nonlinear cell."""
    B, L, _ = x.shape
    H = p["weight_hh"].shape[1]
    S = 2 * H if cell == "lstm" else H
    g = torch.Generator().manual_seed(seed)
    zero = x.new_zeros(B, H)
    ref = (zero, zero.clone()) if cell == "lstm" else zero
    d = torch.randn(B, S, generator=g, dtype=x.dtype)
    d = eps * d / d.norm(dim=1, keepdim=True)
    total = torch.zeros(B, dtype=x.dtype)
    for t in range(L):
        if cell == "lstm":
            pert = (ref[0] + d[:, :H], ref[1] + d[:, H:])
        else:
            pert = ref + d
        ref = step(cell, p, x[:, t], ref)
        pert = step(cell, p, x[:, t], pert)
        if cell == "lstm":
            d = torch.cat([pert[0] - ref[0], pert[1] - ref[1]], dim=1)
        else:
            d = pert - ref
        norm = d.norm(dim=1)
        total += torch.log(norm / eps)
        d = eps * d / norm[:, None]
    return float((total / L).mean())


@pytest.mark.parametrize("cell,gain", [("rnn", 1.1), ("lstm", 1.0), ("gru", 1.0)])
def test_l1_matches_perturbed_trajectory_and_propagation_slope(cell, gain):
    model = _layer(cell, gain)
    L = 1200  # long enough that averaging norms over examples biases the slope < 5%
    x = torch.randn(EXAMPLES, L, 3, generator=torch.Generator().manual_seed(1))
    x = x.double()
    with torch.no_grad():
        fwd = model(x)
    p = layer_params(model.layers[0])
    h0 = x.new_zeros(EXAMPLES, 8)
    c0 = h0 if cell == "lstm" else None
    lam = direction_lyapunov(cell, p, x, fwd.layers[0], h0, c0, "tanh", 3, torch.Generator())
    assert lam[0] >= lam[1] >= lam[2]
    brute = _brute_force_l1(cell, p, x)
    assert float(lam[0]) == pytest.approx(brute, rel=0.05)

    class Win:
        start, inputs, outputs, state0 = 0, fwd.inputs, fwd.layers, None
        grads = [None]

    res = run_probe(model, [Win()], torch.Generator().manual_seed(0), sources=4, lyapunov=1)
    slope = summarise(res.rho["l0"])["decay_per_step"]
    assert slope == pytest.approx(float(res.lyapunov["l0"][0]), rel=0.10)
    assert float(res.lyapunov["l0"][0]) == pytest.approx(float(lam[0]), rel=0.05)


def _relu_rnn(active, drop_at=None, H=8, B=4, L=30, seed=0):
    """A relu RNN layer and inputs whose trajectory has exactly the units ``active`` on at every
    step (``drop_at`` None), or all units on except at step ``drop_at``, where only ``active``
    are: the step Jacobian diag([h_t > 0]) W_hh then has rank len(active) there."""
    torch.manual_seed(seed)
    cfg = ModelConfig(cell="rnn", nonlinearity="relu", hidden_size=H)
    model = RecurrentNet(cfg, input_size=3, output_size=2, readout="per_step").double()
    lay = model.layers[0]
    gen = torch.Generator().manual_seed(seed)
    off = torch.ones(H, dtype=torch.bool)
    off[active] = False
    x = torch.randn(B, L, 3, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        lay.bias_hh_l0.zero_()
        if drop_at is None:  # inactive units: bias -5, tiny input and recurrent drive
            lay.bias_ih_l0.copy_(torch.where(off, -5.0, 1.0))
            lay.weight_ih_l0.mul_(0.1)
            lay.weight_hh_l0.copy_(torch.randn(H, H, generator=gen, dtype=torch.float64) * 0.3)
        else:  # every unit on (positive drive) except the off units at drop_at (input 0 = 1)
            lay.bias_ih_l0.fill_(1.0)
            lay.weight_ih_l0.zero_()
            lay.weight_ih_l0[off, 0] = -10.0
            w = torch.randn(H, H, generator=gen, dtype=torch.float64).abs()
            lay.weight_hh_l0.copy_(0.1 * w)
            x[:, :, 0] = 0.0
            x[:, drop_at, 0] = 1.0
        hs = model(x).layers[0]
    on = (hs > 0).sum(-1)
    if drop_at is None:
        assert bool((on == len(active)).all())
    else:
        assert bool((on[:, drop_at] == len(active)).all()) and int(on.min()) == len(active)
        assert int((on == len(active)).sum()) == B  # only at drop_at
    return model, x, hs


@pytest.mark.parametrize(
    "seed,active,drop_at",
    [(s, [s % 8, (3 * s + 1) % 8], None) for s in range(6)] + [(0, [2, 5], 7), (1, [0, 6, 3], 20)],
)
def test_issue21_item5_rank_deficient_directions_are_minus_infinity(seed, active, drop_at):
    """Fewer active relu units than k at some step: the exponents past that rank are -inf,
    the others equal the numpy QR oracle on autograd Jacobians. Before the fix the QR's rounding
    residue (|R₃₃| ~ 1e-17) gave finite exponents near -37 for seeds 1, 3 and 5."""
    k = 4
    model, x, hs = _relu_rnn(active, drop_at, seed=seed)
    B, _, H = hs.shape
    p = layer_params(model.layers[0])
    lam = direction_lyapunov("rnn", p, x, hs, x.new_zeros(B, H), None, "relu", k, _gen(seed))
    q0 = torch.linalg.qr(torch.randn(B, H, k, generator=_gen(seed), dtype=torch.float64))[0]
    jacs = step_jacobians("rnn", {n: t.detach() for n, t in p.items()}, x, "relu")
    want = oracle_lyapunov(jacs, q0.numpy())
    m = len(active)
    assert np.all(np.isneginf(want[m:])) and np.all(np.isfinite(want[:m]))
    np.testing.assert_array_equal(np.isneginf(lam.numpy()), np.isneginf(want))
    np.testing.assert_allclose(lam.numpy()[:m], want[:m], rtol=1e-9, atol=1e-12)


def _gen(seed):
    return torch.Generator().manual_seed(100 + seed)


def test_issue21_item5_minus_infinity_is_kept_in_the_array_and_not_logged():
    """The probe callback keeps -inf in its exponents (and so in lyapunov/l0.npz) and logs only
    the finite exponents."""
    from types import SimpleNamespace

    from rnnstudy.instruments import Instruments
    from rnnstudy.instruments.gradtime import GradTime
    from rnnstudy.instruments.lyapunov import Lyapunov
    from rnnstudy.instruments.record import StepRecord

    model, x, hs = _relu_rnn([2, 5], drop_at=7, seed=0)  # finite λ₃, λ₄ before the fix
    with torch.no_grad():
        fwd = model(x)

    class Win:
        start, inputs, outputs, state0 = 0, fwd.inputs, fwd.layers, None
        grads = [None]

    logged = {}
    logger = SimpleNamespace(log_metrics=lambda m, step: logged.update(m))
    record = StepRecord(
        step=0, batch=SimpleNamespace(meta={}), loss=0.0, model=model, windows=(Win(),), asked_at=0
    )
    cb = Instruments([GradTime(1, False), Lyapunov(1, False, 4)], seed=0)
    cb.measure(record, logger)
    lam = cb.rows["lyapunov"]["l0"][0]
    assert np.all(np.isfinite(lam[:2])) and np.all(np.isneginf(lam[2:]))
    assert {"lyapunov/l0/l1", "lyapunov/l0/l2"} <= set(logged)
    assert not {"lyapunov/l0/l3", "lyapunov/l0/l4"} & set(logged)
