"""Short, stable names for grid points and configurations (a configuration = a point minus its
seed), and the MLflow-safe form used in parent metric keys ``summary/<config>/<stat>``.

    >>> value_label("clip", {"mode": "norm", "value": 0.25}, [{"mode": "none"}])
    'norm0.25'
    >>> value_label("task", {"name": "adding", "T": 600}, [{"name": "adding", "T": 200}])
    'adding-T600'
    >>> value_label("train.tbptt", None, [None, 20])
    'tbptt=full'
    >>> metric_label("rnn norm0.25 tbptt=full")
    'rnn_norm0.25_tbptt-full'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SEED_AXIS = "seed"
_BAD = re.compile(r"[^/\w.\- ]")
NONE_WORD = {"train.tbptt": "full", "model.recurrent_gain": "default"}


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _head(d: dict[str, Any]) -> str:
    return str(d.get("name", d.get("mode", "")))


def value_label(axis: str, value: Any, siblings: Iterable[Any]) -> str:
    """A grid value as a few characters; a dict shows its name (or mode) and the fields that
    vary among the axis values of that name."""
    if isinstance(value, dict) and value.get("label"):
        return str(value["label"])
    if isinstance(value, dict):
        head = _head(value)
        others = [s for s in siblings if isinstance(s, dict) and _head(s) == head]
        keys = sorted({k for s in [value, *others] for k in s} - {"name", "mode"})
        varying = [k for k in keys if len({repr(s.get(k)) for s in [value, *others]}) > 1]
        if "mode" in value and "value" in value and "value" not in varying:
            varying.append("value")  # a clip threshold is always shown
        parts = [head]
        for k in varying:
            if k not in value or value[k] is None:
                continue
            parts.append(_num(value[k]) if k == "value" else f"-{k}{_num(value[k])}")
        return "".join(parts) or "base"
    leaf = axis.rsplit(".", 1)[-1]
    if value is None:
        return f"{leaf}={NONE_WORD.get(axis, 'none')}"
    if isinstance(value, str):
        return value
    return f"{leaf}={_num(value)}"


def point_labels(grid: dict[str, list[Any]], values: dict[str, Any], skip: str = SEED_AXIS) -> str:
    """The configuration label of a point: its grid values (except ``skip``) as short words."""
    parts = [value_label(a, v, grid.get(a, [])) for a, v in values.items() if a != skip]
    return " ".join(parts) or "all"


def metric_label(label: str) -> str:
    """A label usable inside an MLflow metric key (``^[/\\w.\\- ]*$``), spaces as ``_``."""
    return _BAD.sub("", label.replace("=", "-")).replace(" ", "_")
