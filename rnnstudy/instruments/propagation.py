"""The loss-independent propagation profile ρ(k) = E_{t,u} ‖uᵀ ∂s_{t+k}/∂s_t‖ (DESIGN §4).

On a per-step task the per-time-step gradient mixes how fast a signal decays with how many later
losses feed each step; ρ(k) removes the loss. Every example b gets one random unit vector u_b
over the full state s (h, or (h, c) for the LSTM) injected at a source step s_b, and the same
backward recurrence over step Jacobians as the gradient (``gradtime.direction_backward``, in
the same pass) carries it back: its norm at step s_b - k is ‖u_bᵀ ∂s_{s_b}/∂s_{s_b-k}‖. The
examples are spread over a few source steps (``source_steps``), and ρ(k) is the mean over the
examples whose source is at least k steps from the start.

Summaries (``summarise``): ``decay_per_step`` = the least-squares slope of ln ρ(k) against k
(negative when signals decay; it tends to the top Lyapunov exponent), ``half_life`` =
ln 2 / (-slope) in steps (negative = growth: its magnitude is the doubling length), ``reach`` =
the first lag at which ρ falls below 1e-3 (NaN if it never does within the sequence).

Example: ρ(k) = 0.5^(k/10) gives decay_per_step = -ln 2 / 10 ≈ -0.0693, half_life = 10 and
reach = 100 (the first k with 0.5^(k/10) < 1e-3 is 100: 0.5^9.9 > 1e-3 > 0.5^10).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from rnnstudy.instruments.base import Instrument, Metrics, Rows, finite, pad_rows
from rnnstudy.instruments.gradtime import Injection

REACH = 1e-3  # "gradient reach": the lag at which ρ falls below this


def source_steps(L: int, n: int) -> list[int]:
    """n source steps spread evenly over the sequence, the last step first (so every lag
    1..L-1 has at least one source), none at step 0 (it has no lag).

    >>> source_steps(100, 4)
    [99, 74, 49, 24]
    >>> source_steps(3, 4)
    [2, 1]
    """
    if L < 2:
        return []
    step = max(1, L // n)
    return [s for s in (L - 1 - j * step for j in range(n)) if s >= 1]


def injection(
    B: int, S: int, L: int, n: int, gen: torch.Generator, like: Tensor
) -> Injection | None:
    """One random unit vector of size S per example (drawn from ``gen``, never the global RNG),
    the examples assigned to the source steps in turn (example b to source b mod n). Returned
    on ``like``'s device and dtype; None when the sequence has no lag."""
    steps = source_steps(L, n)
    if not steps:
        return None
    u = torch.randn(B, S, generator=gen, dtype=torch.float64)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    src = torch.tensor([steps[b % len(steps)] for b in range(B)])
    return Injection(u.to(like), src.to(like.device))


def lag_profile(prop: np.ndarray, src: np.ndarray) -> np.ndarray:
    """ρ(k) for k = 1..L-1 from the per-example norms prop (B, L) and sources src (B,): the mean
    over the examples with src_b >= k of prop[b, src_b - k]; NaN for a lag no example reaches.

    >>> lag_profile(np.array([[0.25, 0.5, 1.0], [0.5, 1.0, 0.0]]), np.array([2, 1]))
    array([0.5 , 0.25])
    """
    prop = np.asarray(prop, dtype=np.float64)
    B, L = prop.shape
    k = np.arange(1, L)
    idx = np.asarray(src)[:, None] - k[None, :]  # (B, L-1): the step k back from the source
    ok = idx >= 0
    vals = np.where(ok, prop[np.arange(B)[:, None], np.clip(idx, 0, None)], 0.0)
    count = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, vals.sum(axis=0) / count, np.nan)


def summarise(rho: np.ndarray) -> dict[str, float]:
    """decay_per_step, half_life and reach of a lag profile ρ(k), k = 1..len(rho)."""
    rho = np.asarray(rho, dtype=np.float64)
    k = np.arange(1, len(rho) + 1, dtype=np.float64)
    ok = np.isfinite(rho) & (rho > 0)
    slope = float(np.polyfit(k[ok], np.log(rho[ok]), 1)[0]) if ok.sum() >= 2 else math.nan
    if math.isnan(slope):
        half = math.nan
    else:
        half = math.log(2) / -slope if slope != 0 else math.inf
    below = np.flatnonzero(np.isfinite(rho) & (rho < REACH))
    reach = float(k[below[0]]) if below.size else math.nan
    return {"decay_per_step": slope, "half_life": half, "reach": reach}


class Propagation(Instrument):
    """Instrument ``propagation``: ρ(k) of every layer and direction on the probe schedule (the
    probe injects random unit vectors at ``sources`` source steps), its summaries, and
    ``propagation/<layer>.npz`` (rho: probe x lag, lags). Switch: ``probe.propagation`` (with
    ``probe.sources``)."""

    name = "propagation"
    needs = frozenset({"windows", "probe"})

    def __init__(self, every: int, log_spaced_early: bool, sources: int):
        super().__init__(every, log_spaced_early)
        self.sources = sources

    @classmethod
    def from_config(cls, cfg) -> Propagation | None:
        p = cfg.probe
        return cls(p.every, p.log_spaced_early, p.sources) if p.enabled and p.propagation else None

    def probe_args(self) -> dict[str, int]:
        return {"sources": self.sources}

    def measure(self, record) -> tuple[Metrics, Rows | None]:
        metrics: Metrics = {}
        for k, rho in record.probe.rho.items():
            metrics.update({f"propagation/{k}/{n}": v for n, v in summarise(rho).items()})
        return finite(metrics), dict(record.probe.rho)

    def write(self, steps: np.ndarray, rows: dict[str, list[np.ndarray]]) -> dict[str, Rows]:
        out = {}
        for k, r in rows.items():
            rho = pad_rows(r)
            out[k] = {"rho": rho, "lags": np.arange(1, rho.shape[1] + 1)}
        return out
