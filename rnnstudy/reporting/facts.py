"""A run's task facts, read from its params through the task config (``rnnstudy.config``).

The facts live once, on the task config classes (torch-free): the deciding metric, its value at
chance, the memoryless loss, the distance range. The report rebuilds a run's task config from
its flattened params (``task.name``, ``task.A``…) and asks it::

    >>> b = baseline({"task.name": "copy", "task.A": "8", "task.K": "10", "task.T": "1000"})
    >>> b.metric, b.metric_value, round(b.loss, 5)
    ('val/acc', 0.125, 0.02039)
    >>> task_config({"task.name": "qa_distance", "task.d_min": "2", "task.d_max": "40"}).d_max
    40
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from rnnstudy.config import TaskConfig, parse_value

_ADAPTER: TypeAdapter = TypeAdapter(TaskConfig)


@dataclass(frozen=True)
class Baseline:
    metric: str  # val/acc | val/mse | val/bpc
    metric_value: float | None  # the metric at chance (None: unknown)
    loss: float | None  # loss of the memoryless / uniform predictor (None: unknown)
    loss_label: str = "memoryless"


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return parse_value(str(v))


def task_config(params: Mapping[str, Any]) -> Any | None:
    """The run's task config from flattened params, or None if they do not make one."""
    data = {k[5:]: _value(v) for k, v in params.items() if str(k).startswith("task.")}
    data = {k: v for k, v in data.items() if v is not None and "." not in k}
    try:
        return _ADAPTER.validate_python(data)
    except (ValidationError, ValueError, TypeError):
        return None


def _fact(cfg: Any, name: str) -> float | None:
    try:
        return float(getattr(cfg, name))
    except (ValueError, OSError, NotImplementedError, TypeError):
        return None  # e.g. charlm whose text file is not on this machine


def baseline(params: Mapping[str, Any]) -> Baseline:
    """Chance and memoryless figures for ``params`` (flattened config: ``task.name``…)."""
    cfg = task_config(params)
    if cfg is None:
        return Baseline("val/acc", None, None)
    label = "uniform" if cfg.name == "charlm" else "memoryless"
    return Baseline(cfg.metric, _fact(cfg, "chance_metric"), _fact(cfg, "memoryless_loss"), label)
