"""Top-k Lyapunov exponents of a recurrent layer driven by the task's inputs (QR method).

Along the trajectory the forward pass already ran, k orthonormal perturbations of the full
state s (h, or (h, c) for the LSTM) are pushed through the step Jacobians J_t
(``rnnstudy.instruments.jacobians``) and re-orthonormalised by a QR decomposition after every
step: V_t = J_t Q_{t-1} = Q_t R_t. The exponents are λ_i = (1/L) Σ_t ln |R_t[i, i]| (natural
log per step), averaged over a few examples of the batch (Engelken et al. 2023; Vogt et al.
2022). λ₁ < 0: perturbations, and gradients, die out at rate λ₁ per step; λ₁ > 0: they grow.

Rank deficiency (the rule). Where the step Jacobians along a trajectory have rank m < k at
some step (a relu RNN with fewer than k active units, saturated units), the directions past m
collapse: ln |R_t[i, i]| = ln 0 and λ_i = -∞. The QR returns rounding noise there instead of 0
(|R₃₃| ≈ 4e-18 once gave a "finite" λ₃ ≈ -3.3), so: a direction i is *rank-deficient* on a
trajectory if at some step |R_t[i, i]| <= S · eps · max |R_t| (S the state size, eps the
machine epsilon of the dtype, max over all entries of R_t, i.e. below what Householder QR can
resolve from zero); its exponent on that trajectory is -∞, and so is the mean over the
trajectories. -∞ is kept in the arrays (``lyapunov/<key>.npz``); like any non-finite value it
is not logged as a metric (DESIGN §4: an undefined summary is never a fake finite number).

Example: for a linear recurrence s_t = W s_{t-1} the exponents are the logs of the moduli of
W's eigenvalues: W = diag(0.5, 0.25) gives λ = (ln 0.5, ln 0.25) = (-0.693, -1.386); for
W = diag(0.5, 0) the second direction is rank-deficient, λ = (-0.693, -∞).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from rnnstudy.instruments.base import Instrument, Metrics, Rows, finite, pad_rows
from rnnstudy.instruments.jacobians import (
    gru_coefficients,
    lstm_coefficients,
    prev_states,
    rnn_coefficients,
)

EXAMPLES = 8  # trajectories (examples of the batch) the exponents are averaged over


@torch.no_grad()
def qr_exponents(step: Callable[[int, Tensor], Tensor], q0: Tensor, L: int) -> Tensor:
    """Per trajectory, the mean log growth per step of k directions, Gram-Schmidt ordered.

    step(t, V) returns J_t applied to each of the k directions, V (M, k, S) (M trajectories,
    k directions, state size S; a direction is a row); q0 (M, k, S) has orthonormal rows.
    Returns (M, k), float64; -inf for a rank-deficient direction (module docstring).

    >>> w = torch.diag(torch.tensor([0.5, 0.25], dtype=torch.float64))
    >>> q0 = torch.eye(2, dtype=torch.float64).unsqueeze(0)
    >>> [round(v, 3) for v in qr_exponents(lambda t, v: v @ w.T, q0, 50)[0].tolist()]
    [-0.693, -1.386]
    >>> w[1, 1] = 0
    >>> qr_exponents(lambda t, v: v @ w.T, q0, 50)[0].tolist()[1]
    -inf
    """
    q = q0
    M, k, S = q0.shape
    diag = q0.new_empty(L, M, k)  # |R_t[i, i]|, logged once at the end
    deficient = torch.zeros(M, k, dtype=torch.bool, device=q0.device)
    rel = S * torch.finfo(q0.dtype).eps
    for t in range(L):
        qt, r = torch.linalg.qr(step(t, q).transpose(1, 2))
        q = qt.transpose(1, 2)
        d = diag[t]
        torch.abs(r.diagonal(dim1=-2, dim2=-1), out=d)
        deficient |= d <= rel * r.abs().amax(dim=(1, 2)).unsqueeze(1)
    lam = diag.double().log_().sum(dim=0) / max(L, 1)
    return lam.masked_fill_(deficient, -math.inf)


def _stepper(cell, p, x, hs, h0, c0, nonlinearity) -> tuple[Callable[[int, Tensor], Tensor], int]:
    """(step(t, V) = V J_tᵀ, i.e. J_t applied to every row of V (M, k, S), state size S).
    Each step is one (M·k, H) x (H, G·H) product and a few elementwise ops."""
    M, L, H = hs.shape
    w_t = p["weight_hh"].T  # (H, G·H)

    def project(v: Tensor) -> Tensor:
        m, kk = v.shape[:2]
        return torch.mm(v.reshape(m * kk, H), w_t).view(m, kk, -1, H)  # (M, k, G, H)

    if cell == "rnn":
        d = rnn_coefficients(hs, 0, L, nonlinearity).unsqueeze(2)  # (L, M, 1, H)

        def rnn_step(t: int, v: Tensor) -> Tensor:
            return project(v)[:, :, 0].mul_(d[t])

        return rnn_step, H
    if cell == "gru":
        z, coef = gru_coefficients(p, x, prev_states(hs, h0))
        z, coef = z.unsqueeze(2), coef.unsqueeze(2)  # (L, M, 1, H), (L, M, 1, 3, H)

        def gru_step(t: int, v: Tensor) -> Tensor:
            return project(v).mul_(coef[t]).sum(dim=2).addcmul_(z[t], v)

        return gru_step, H
    if cell == "lstm":
        c0 = c0 if c0 is not None else torch.zeros_like(h0)
        k, a, fk = lstm_coefficients(p, x, hs, h0, c0)
        k = k.permute(1, 2, 0, 3).unsqueeze(2)  # (L, M, 1, 4, H)
        a, fk = a.unsqueeze(2), fk.unsqueeze(2)  # (L, M, 1, H)

        def lstm_step(t: int, v: Tensor) -> Tensor:
            out = torch.empty(v.shape, dtype=v.dtype, device=v.device)
            pv = project(v[:, :, :H]).mul_(k[t])
            dc = torch.sum(pv[:, :, :3], dim=2, out=out[:, :, H:])
            dc.addcmul_(fk[t], v[:, :, H:])
            torch.addcmul(pv[:, :, 3], a[t], dc, out=out[:, :, :H])
            return out

        return lstm_step, 2 * H
    raise ValueError(f"unknown cell {cell!r}")


@torch.no_grad()
def direction_lyapunov(
    cell: str,
    p: dict[str, Tensor],
    x: Tensor,
    hs: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    nonlinearity: str,
    k: int,
    gen: torch.Generator,
    examples: int = EXAMPLES,
) -> Tensor:
    """The top-k exponents (k,) of one direction of one layer (processing order), averaged over
    the first ``examples`` examples (-inf where a direction is rank-deficient on any of them);
    k is capped at the state size. The initial directions are random orthonormal, drawn from
    ``gen``."""
    M = min(examples, hs.shape[0])
    c0m = None if c0 is None else c0[:M]
    step, S = _stepper(cell, p, x[:M], hs[:M], h0[:M], c0m, nonlinearity)
    k = min(k, S)
    q0 = torch.linalg.qr(torch.randn(M, S, k, generator=gen, dtype=torch.float64))[0]
    return qr_exponents(step, q0.transpose(1, 2).to(hs), hs.shape[1]).mean(dim=0)


class Lyapunov(Instrument):
    """Instrument ``lyapunov``: the top ``k`` exponents of every layer and direction on the
    probe schedule (``lyapunov/<layer>/l<i>``) and ``lyapunov/<layer>.npz`` (exponents: probe x
    k). Switch: ``probe.lyapunov`` (k; 0 = off)."""

    name = "lyapunov"
    needs = frozenset({"windows", "probe"})

    def __init__(self, every: int, log_spaced_early: bool, k: int):
        super().__init__(every, log_spaced_early)
        self.k = k

    @classmethod
    def from_config(cls, cfg) -> Lyapunov | None:
        p = cfg.probe
        return cls(p.every, p.log_spaced_early, p.lyapunov) if p.enabled and p.lyapunov else None

    def probe_args(self) -> dict[str, int]:
        return {"lyapunov": self.k}

    def measure(self, record) -> tuple[Metrics, Rows | None]:
        metrics: Metrics = {}
        for k, lam in record.probe.lyapunov.items():
            metrics.update({f"lyapunov/{k}/l{i + 1}": float(v) for i, v in enumerate(lam)})
        return finite(metrics), dict(record.probe.lyapunov)

    def write(self, steps, rows: dict[str, list]) -> dict[str, Rows]:
        return {k: {"exponents": pad_rows(r)} for k, r in rows.items()}
