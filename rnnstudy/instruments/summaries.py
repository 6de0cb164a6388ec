"""Summaries of one per-time-step gradient profile (DESIGN §4).

The input is the per-example norm matrix n[b, t] = ‖∂L/∂h_t‖ for example b (B, L), and
optionally each example's first *informative* position s_b (``batch.meta["source"]``):

* ``first``: mean over examples of n[b, s_b], the norm at each example's first informative step
  (without sources: the first step in processing order, t = 0, or t = L-1 for a reverse
  direction);
* ``last``: mean over examples of the norm at the last step in processing order;
* ``log10_ratio`` = log10(first / last);
* ``half_life``: the number of steps over which the batch-mean norm halves, from a least-squares
  fit of log2 n_t against the distance back from the last step. Negative = the norm *grows*
  going back in time (its magnitude is then the doubling length). Steps whose norm is exactly 0
  (e.g. cut by truncated BPTT) are left out of the fit.

An undefined summary is NaN, never a clamped finite number: ``first`` is NaN when any example's
norm at its first informative step is zero or not finite (no gradient reached it: a window with
no loss), ``last`` likewise, ``log10_ratio`` when either is NaN, ``half_life`` with fewer than
two positive steps. The callback does not log NaN summaries.

Example: n = [[0, 1, 2, 4]] (one example, source 1) gives first = 1, last = 4,
log10_ratio = log10(1/4), and half_life = 1 (log2 n falls by 1 per step back over the positive
steps).
"""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def summarise(
    norms: np.ndarray, reverse: bool = False, source: np.ndarray | None = None
) -> dict[str, float]:
    """Summaries of a (B, L) per-example norm matrix (a (L,) profile is one example).

    ``source``: (B,) first informative positions in original time order, or None.
    ``reverse``: the profile belongs to a reverse direction (processing order is flipped).
    """
    n = np.asarray(norms, dtype=np.float64)
    if n.ndim == 1:
        n = n[None, :]
    B, L = n.shape
    rows = np.arange(B)
    if source is None:
        s = np.full(B, L - 1 if reverse else 0)
    else:
        s = np.asarray(source, dtype=np.int64).reshape(B)
    end = 0 if reverse else L - 1
    first = _mean_defined(n[rows, s])
    last = _mean_defined(n[:, end])
    ratio = math.log10(first / last) if math.isfinite(first) and math.isfinite(last) else NAN
    profile = n.mean(axis=0)
    return {
        "first": first,
        "last": last,
        "log10_ratio": ratio,
        "half_life": half_life(profile[::-1] if reverse else profile),
    }


def _mean_defined(v: np.ndarray) -> float:
    """Mean of per-example norms; NaN if any of them is zero or not finite."""
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        return NAN
    return float(v.mean())


def half_life(n: np.ndarray) -> float:
    """Steps over which the profile n (L,), in processing order, halves going back in time."""
    dist = np.arange(len(n))[::-1].astype(np.float64)  # steps back from the last step
    ok = (n > 0) & np.isfinite(n)
    if ok.sum() < 2:
        return NAN
    slope = np.polyfit(dist[ok], np.log2(n[ok]), 1)[0]
    if slope == 0:
        return math.inf
    return float(-1.0 / slope)
