"""Summaries of one per-time-step gradient profile n_t = mean_b ‖∂L/∂h_t‖ (DESIGN §4).

In processing order (for a reverse direction the sequence is flipped first), ``first`` is the
norm at the first time step (the one whose gradient travelled farthest back), ``last`` the norm at
the last step, ``log10_ratio`` = log10(first / last), and ``half_life`` the number of time steps
over which the norm halves, from a least-squares fit of log2 n_t against the distance back from
the last step. A negative half-life means the norm *grows* going back in time (its magnitude is
then the doubling length); steps whose norm is exactly 0 (e.g. cut by truncated BPTT) are left
out of the fit.
"""

from __future__ import annotations

import math

import numpy as np

TINY = 1e-30


def summarise(norms: np.ndarray, reverse: bool = False) -> dict[str, float]:
    n = np.asarray(norms, dtype=np.float64)
    if reverse:
        n = n[::-1]
    first, last = float(n[0]), float(n[-1])
    out = {
        "first": first,
        "last": last,
        "log10_ratio": math.log10(max(first, TINY) / max(last, TINY)),
        "half_life": half_life(n),
    }
    return out


def half_life(n: np.ndarray) -> float:
    dist = np.arange(len(n))[::-1].astype(np.float64)  # steps back from the last step
    ok = (n > 0) & np.isfinite(n)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(dist[ok], np.log2(n[ok]), 1)[0]
    if slope == 0:
        return 1e12
    return float(-1.0 / slope)
