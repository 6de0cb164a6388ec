"""Credit at the source, by distance (DESIGN §4): how much learning signal reaches the step that
must be remembered, as that step moves away.

Input: the per-example norms of the total BPTT gradient that the probe already computed in its
backward recurrence (``ProbeResult.grad_norms``: ``l0`` = ‖∂L/∂h_t‖ and, for the LSTM,
``l0_c`` = ‖∂L/∂c_t‖, both (B, L) in original time order), each example's source step
``meta["source"]`` and distance ``meta["distance"]``. No extra forward or backward pass.

Per example b: ``credit_b = ‖∂L/∂h_{s_b}‖`` (LSTM: the norm of the full state's gradient,
``hypot(‖∂L/∂h_s‖, ‖∂L/∂c_s‖)``). Metrics per layer key:

* ``by_distance/<d>`` — the median credit over the examples whose distance falls in the bucket
  with upper edge ``d`` (buckets without examples are left out: under the distance schedule the
  batch only holds the distances being trained on);
* ``decay_per_step`` — the least-squares slope of ``ln credit_b`` against ``d_b`` over the
  examples with a positive finite credit (negative = the credit vanishes with distance), and
  ``decay_se`` its standard error; NaN (not logged) with fewer than 3 such examples or fewer
  than 2 distinct distances;
* ``underflow`` — the fraction of examples whose credit is exactly 0 (float32 underflows beyond
  d ≈ 80 for a vanilla RNN at initialisation): the slope is fit on the rest, so read it with
  this number beside it.

Worked example: credits 1, e⁻¹, e⁻² at distances 2, 3, 4 give ``decay_per_step = -1`` (exact
fit, ``decay_se = 0``)::

    >>> import numpy as np
    >>> h = np.array([[1.0, 0, 0, 0, 0], [np.exp(-1), 0, 0, 0, 0], [np.exp(-2), 0, 0, 0, 0]])
    >>> m = credit_metrics(h, None, np.zeros(3, int), np.array([2, 3, 4]), [(2, 3), (4, 5)])
    >>> round(m["decay_per_step"], 12), round(m["by_distance/5"], 4), m["underflow"]
    (-1.0, 0.1353, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnstudy.instruments.base import Instrument, Metrics, Rows, finite

NAN = float("nan")


def source_credit(h: np.ndarray, c: np.ndarray | None, source: np.ndarray) -> np.ndarray:
    """(B,) credit at each example's source step from (B, L) norms (``c``: LSTM cell part)."""
    rows = np.arange(h.shape[0])
    s = np.asarray(source, dtype=np.int64).reshape(-1)
    out = np.asarray(h, dtype=np.float64)[rows, s]
    if c is not None:
        out = np.hypot(out, np.asarray(c, dtype=np.float64)[rows, s])
    return out


def fit_slope(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y against d and its standard error (NaN when undefined)."""
    n = d.size
    if n < 3 or np.unique(d).size < 2:
        return NAN, NAN
    dc = d - d.mean()
    sxx = float((dc * dc).sum())
    slope = float((dc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * dc
    se = math.sqrt(float((resid * resid).sum()) / (n - 2) / sxx)
    return slope, se


def credit_metrics(
    h: np.ndarray,
    c: np.ndarray | None,
    source: np.ndarray,
    distance: np.ndarray,
    edges: Sequence[tuple[int, int]],
) -> dict[str, float]:
    """The credit metrics of one layer (keys without the ``credit/<layer>/`` prefix)."""
    credit = source_credit(h, c, source)
    d = np.asarray(distance, dtype=np.float64).reshape(-1)
    out: dict[str, float] = {}
    for lo, hi in edges:
        sel = (d >= lo) & (d <= hi)
        if sel.any():
            out[f"by_distance/{hi}"] = float(np.median(credit[sel]))
    ok = np.isfinite(credit) & (credit > 0)
    slope, se = fit_slope(d[ok], np.log(credit[ok]))
    out["decay_per_step"], out["decay_se"] = slope, se
    out["underflow"] = float((credit == 0).mean()) if credit.size else NAN
    return out


def layer_credit(
    grad_norms: dict[str, np.ndarray],
    source: np.ndarray,
    distance: np.ndarray,
    edges: Sequence[tuple[int, int]],
) -> dict[str, float]:
    """``credit/<layer>/...`` for every forward layer key in a probe's ``grad_norms`` (reverse
    directions read the source from the other end and are left out)."""
    out: dict[str, float] = {}
    for key, h in grad_norms.items():
        if key.endswith("_c") or "_reverse" in key:
            continue
        m = credit_metrics(h, grad_norms.get(key + "_c"), source, distance, edges)
        out.update({f"credit/{key}/{name}": v for name, v in m.items()})
    return out


class Credit(Instrument):
    """Instrument ``credit``: the credit metrics on the probe schedule, from the probe's
    per-example gradient norms and the batch's ``meta["source"]`` / ``meta["distance"]``, and
    ``credit/<layer>.npz`` (credit: probe x bucket medians, edges: the buckets' upper edges).
    Switch: ``probe.credit`` (core tasks only: they have distances)."""

    name = "credit"
    needs = frozenset({"windows", "probe"})

    def __init__(self, every: int, log_spaced_early: bool, edges: list[tuple[int, int]]):
        super().__init__(every, log_spaced_early)
        self.edges = edges

    @classmethod
    def from_config(cls, cfg: Any) -> Credit | None:
        p = cfg.probe
        if not (p.enabled and p.credit and cfg.task.has_distances):
            return None
        return cls(p.every, p.log_spaced_early, cfg.task.buckets())

    def measure(self, record: Any) -> tuple[Metrics, Rows | None]:
        source, distance = record.batch.meta.get("source"), record.batch.meta.get("distance")
        if source is None or distance is None:
            return {}, None
        m = layer_credit(
            record.probe.grad_norms,
            source.detach().cpu().numpy(),
            distance.detach().cpu().numpy(),
            self.edges,
        )
        rows = {}
        for key in {k.split("/")[1] for k in m}:
            row = [m.get(f"credit/{key}/by_distance/{hi}", np.nan) for _, hi in self.edges]
            rows[key] = np.asarray(row, dtype=float)
        return finite(m), rows

    def write(self, steps: np.ndarray, rows: dict[str, list[np.ndarray]]) -> dict[str, Rows]:
        edges = np.asarray([hi for _, hi in self.edges], dtype=np.int64)
        return {
            k: {"credit": np.stack(r), "edges": edges}
            for k, r in rows.items()
            if len(r) == len(steps)
        }
