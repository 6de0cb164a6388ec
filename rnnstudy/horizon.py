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
from collections.abc import Mapping, Sequence
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
