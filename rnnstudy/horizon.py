"""The memory horizon (DESIGN §2.1): one definition, torch-free, for metrics, studies and report.

Accuracy is grouped into ``n_buckets`` equal-width buckets of ``[d_min, d_max]``, each labelled
by its upper edge. The horizon is the upper edge of the last bucket such that this bucket and
every shorter one reach accuracy >= ``HORIZON_ACC`` (0 if the first bucket fails). When every
bucket passes, the horizon is ``d_max`` and *capped*: the true horizon may lie beyond the range,
so it is shown as "≥ d_max".

Worked example (``d_min=2, d_max=21, n_buckets=4``)::

    >>> buckets(2, 21, 4)
    [(2, 6), (7, 11), (12, 16), (17, 21)]
    >>> memory_horizon({6: 1.0, 11: 0.95, 16: 0.5, 21: 0.92}, [6, 11, 16, 21])
    Horizon(value=11, capped=False)
    >>> memory_horizon({6: 0.99, 11: 0.97, 16: 0.93, 21: 0.91}, [6, 11, 16, 21])
    Horizon(value=21, capped=True)
    >>> memory_horizon({6: 0.4, 11: 0.95}, [6, 11])
    Horizon(value=0, capped=False)

Bucket 21 passes in the first table but 16 does not, so the horizon stops at 11 (contiguous).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

HORIZON_ACC = 0.9  # a bucket counts towards the memory horizon at this accuracy

#: metric names (without the ``val/`` or ``final/`` prefix)
BY_DISTANCE = "acc_by_distance/"
HORIZON = "memory_horizon"
LEARNED = "learned_d_max"
STEPS_TO = "steps_to/"  # final/steps_to/<d>: first step the solved upper end reached d


@dataclass(frozen=True)
class Horizon:
    value: int
    capped: bool  # every bucket passed: the true horizon is >= value (= d_max)

    def label(self) -> str:
        """``"≥ 40"`` when capped, else ``"17"``."""
        return f"≥ {self.value}" if self.capped else str(self.value)


def buckets(d_min: int, d_max: int, n_buckets: int) -> list[tuple[int, int]]:
    """Contiguous inclusive integer ranges ``(lo, hi)`` covering ``[d_min, d_max]``:
    ``n_buckets`` of them as equal in width as integers allow (fewer if the range is shorter);
    the wider ones come first."""
    if d_max < d_min or n_buckets < 1:
        raise ValueError(
            f"need d_min <= d_max and n_buckets >= 1 (got {d_min}, {d_max}, {n_buckets})"
        )
    span = d_max - d_min + 1
    k = min(n_buckets, span)
    base, extra = divmod(span, k)
    out, lo = [], d_min
    for i in range(k):
        hi = lo + base + (1 if i < extra else 0) - 1
        out.append((lo, hi))
        lo = hi + 1
    return out


def accuracy_by_bucket(
    distance: Sequence[int] | np.ndarray,
    correct: Sequence[float] | np.ndarray,
    total: Sequence[float] | np.ndarray,
    edges: Sequence[tuple[int, int]],
) -> dict[int, float]:
    """Per bucket (keyed by upper edge): ``sum(correct) / sum(total)`` over the examples whose
    distance falls in it. ``correct``/``total`` are per-example counts (1/1 for a many-to-one
    task; right symbols / K for copy). Buckets without examples are left out."""
    d = np.asarray(distance)
    c = np.asarray(correct, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    out: dict[int, float] = {}
    for lo, hi in edges:
        sel = (d >= lo) & (d <= hi)
        n = t[sel].sum()
        if n > 0:
            out[int(hi)] = float(c[sel].sum() / n)
    return out


def memory_horizon(
    acc_by_edge: Mapping[int, float], edges: Sequence[int], threshold: float = HORIZON_ACC
) -> Horizon:
    """The horizon from accuracy per bucket (``edges``: every bucket's upper edge, in order).
    A missing or NaN bucket does not pass."""
    value = 0
    for e in sorted(edges):
        acc = acc_by_edge.get(e, math.nan)
        if not (acc >= threshold):  # NaN fails too
            return Horizon(value, False)
        value = int(e)
    return Horizon(value, bool(edges))


def run_horizon(metrics: Mapping[str, float], d_max: int, prefix: str = "final/") -> Horizon | None:
    """A finished run's horizon: ``learned_d_max`` where the distance schedule grew, else the
    memory horizon; capped when it reaches ``d_max``. None when the run recorded neither."""
    for key in (prefix + LEARNED, prefix + HORIZON):
        v = metrics.get(key)
        if v is not None and not math.isnan(v):
            return Horizon(int(v), int(v) >= d_max)
    return None


def horizon_text(value: float, d_max: int | None, capped: bool = False) -> str:
    """``"≥ 60"`` when capped (or at ``d_max``), ``"19"``, or ``"n/a"`` for NaN.

    >>> horizon_text(60.0, 60), horizon_text(47.5, 60), horizon_text(float("nan"), 60)
    ('≥ 60', '47.5', 'n/a')
    """
    if math.isnan(value):
        return "n/a"
    if capped or (d_max is not None and value >= d_max):
        return f"≥ {value:g}"
    return f"{value:g}"


def claim(rnn: float, gated: dict[str, float], d_max: int) -> tuple[bool, str]:
    """Whether the tour's claim (DESIGN §7) held on one task, and a sentence saying why: the
    RNN's horizon is inside (0, d_max) and the best gated cell's is >= max(3 x RNN's, d_max/2).

    >>> claim(6.0, {"lstm": 100.0, "gru": 40.0}, 100)
    (True, 'held: rnn 6 in (0, 100); lstm ≥ 100 >= max(3 x rnn, d_max/2) = 50')
    """
    present = {c: v for c, v in gated.items() if not math.isnan(v)}
    if math.isnan(rnn) or not present:
        return False, "MISSED: horizons missing (failed or unfinished runs)"
    best_cell = max(present, key=lambda c: present[c])
    best = present[best_cell]
    need = max(3 * rnn, d_max / 2)
    inside = 0 < rnn < d_max
    held = inside and best >= need
    why = (
        f"rnn {horizon_text(rnn, d_max)} {'in' if inside else 'NOT in'} (0, {d_max}); "
        f"{best_cell} {horizon_text(best, d_max)} {'>=' if best >= need else '<'}"
        f" max(3 x rnn, d_max/2) = {need:g}"
    )
    return held, ("held: " if held else "MISSED: ") + why


def median_half_life(half_lives: Iterable[float]) -> float:
    """The median of half-lives taken on their decay rates ``ln 2 / h``, then turned back.

    A half-life is a reciprocal rate: a slowly decaying run has a huge positive half-life and a
    slowly *growing* one a huge negative one, so averaging or taking the median of half-lives
    directly can land on a value neither run had (two seeds +5 and −157 give −76). The median
    rate is well defined; a median rate of 0 is an infinite half-life. NaNs are left out.

    >>> round(median_half_life([5.0, -157.0]), 2)  # rates 0.139 and -0.0044: median 0.067
    10.33
    >>> round(median_half_life([4.0, 8.0, float("nan")]), 2), median_half_life([])
    (5.33, nan)
    """
    rates = [math.log(2) / h for h in half_lives if not math.isnan(h)]
    if not rates:
        return math.nan
    rate = float(np.median(rates))
    return math.inf if rate == 0 else math.log(2) / rate
