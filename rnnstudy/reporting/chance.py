"""Chance levels and memoryless baselines from a run's params (pure python, DESIGN §2 table).

>>> baseline({"task.name": "copy", "task.A": "8", "task.K": "10", "task.T": "1000"})
Baseline(metric='val/acc', metric_value=0.125, loss=0.020386..., loss_label='memoryless')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The validation metric each task is judged by (DESIGN §2).
METRIC = {
    "copy": "val/acc",
    "delayed_recall": "val/acc",
    "qa_distance": "val/acc",
    "temporal_order": "val/acc",
    "adding": "val/mse",
    "charlm": "val/bpc",
}


@dataclass(frozen=True)
class Baseline:
    metric: str  # val/acc | val/mse | val/bpc
    metric_value: float | None  # the metric at chance (None: unknown)
    loss: float | None  # loss of the memoryless / uniform predictor (None: unknown)
    loss_label: str = "chance"


def _num(params: Mapping[str, Any], key: str, default: float) -> float:
    v = params.get(key)
    try:
        out = float(v)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(out) else out


def baseline(params: Mapping[str, Any]) -> Baseline:
    """Chance for ``params`` (flattened config: ``task.name``, ``task.A``…)."""
    task = str(params.get("task.name") or "")
    metric = METRIC.get(task, "val/acc")
    if task == "copy":
        A, K, T = (_num(params, f"task.{k}", d) for k, d in (("A", 8), ("K", 10), ("T", 50)))
        return Baseline(metric, 1 / A, K * math.log(A) / (T + 2 * K), "memoryless")
    if task == "delayed_recall":
        A = _num(params, "task.A", 8)
        return Baseline(metric, 1 / A, math.log(A))
    if task == "qa_distance":
        V = _num(params, "task.n_values", 8)
        return Baseline(metric, 1 / V, math.log(V))
    if task == "adding":
        return Baseline(metric, 1 / 6, 1 / 6, "predict 1")
    if task == "temporal_order":
        return Baseline(metric, 0.25, math.log(4))
    return Baseline(metric, None, None)  # charlm: the vocabulary is not in the params
