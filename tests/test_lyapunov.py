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
