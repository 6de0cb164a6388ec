"""The one way runs are named: a *configuration label* (a grid point minus its seed) and a
*point label* (with it), both built from the grid values, written on every child run (tags
``config`` and ``point``) and read back by the study tables, the report's tables and figures,
and the parent's headline metrics ``summary/<config>/<stat>`` (in MLflow-safe form).

Words are joined by `` · ``; a dict shows its name (or, for a clip, ``clip=<mode>:<τ>``) and the
fields that vary among the axis values of that name; a scalar shows ``<leaf>=<value>`` unless it
is a word already (a cell name)::

    >>> value_label("clip", {"mode": "norm", "value": 0.25}, [{"mode": "none"}])
    'clip=norm:0.25'
    >>> value_label("clip", {"mode": "none"}, [{"mode": "norm", "value": 1.0}])
    'clip=none'
    >>> value_label("task", {"name": "adding", "T": 600}, [{"name": "adding", "T": 200}])
    'adding T=600'
    >>> value_label("train.tbptt", None, [None, 20])
    'tbptt=full'
    >>> grid = {"model.cell": ["rnn", "lstm"], "clip": [{"mode": "norm", "value": 0.25}], "seed": [0]}
    >>> point_labels(grid, {"model.cell": "rnn", "clip": {"mode": "norm", "value": 0.25}, "seed": 0})
    'rnn · clip=norm:0.25'
    >>> metric_label("rnn · clip=norm:0.25 · tbptt=full")
    'rnn_clip-norm0.25_tbptt-full'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SEED_AXIS = "seed"
SEP = " · "
_BAD = re.compile(r"[^/\w.\- ]")
NONE_WORD = {"train.tbptt": "full", "model.recurrent_gain": "default"}


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _head(d: dict[str, Any]) -> str:
    return str(d.get("name", d.get("mode", "")))


def _varying(value: dict[str, Any], siblings: Iterable[Any]) -> list[str]:
    head = _head(value)
    same = [value, *(s for s in siblings if isinstance(s, dict) and _head(s) == head)]
    keys = sorted({k for s in same for k in s} - {"name", "mode", "label"})
    return [k for k in keys if len({repr(s.get(k)) for s in same}) > 1]


def value_label(axis: str, value: Any, siblings: Iterable[Any]) -> str:
    """One grid value as a few characters (see the module's examples)."""
    siblings = list(siblings)
    leaf = axis.rsplit(".", 1)[-1]
    if isinstance(value, dict) and value.get("label"):
        return str(value["label"])
    if isinstance(value, dict) and "mode" in value:  # a clip setting: always mode and τ
        mode = str(value["mode"])
        tau = value.get("value")
        word = f"{leaf}={mode}" + (f":{_num(tau)}" if mode != "none" and tau is not None else "")
        rest = [k for k in _varying(value, siblings) if k != "value" and value.get(k) is not None]
        return " ".join([word, *(f"{k}={_num(value[k])}" for k in rest)])
    if isinstance(value, dict):
        rest = [k for k in _varying(value, siblings) if value.get(k) is not None]
        return " ".join([_head(value), *(f"{k}={_num(value[k])}" for k in rest)]).strip() or "base"
    if value is None:
        return f"{leaf}={NONE_WORD.get(axis, 'none')}"
    if isinstance(value, str):
        return value
    return f"{leaf}={_num(value)}"


def point_labels(
    grid: dict[str, list[Any]], values: dict[str, Any], skip: str | None = SEED_AXIS
) -> str:
    """The label of a point: its grid values (except the ``skip`` axis) in grid order; with
    the default ``skip`` this is the configuration label (seeds pooled)."""
    parts = [value_label(a, v, grid.get(a, [])) for a, v in values.items() if a != skip]
    return SEP.join(parts) or "all"


def metric_label(label: str) -> str:
    """A label usable inside an MLflow metric key (``^[/\\w.\\- ]*$``), words joined by ``_``."""
    return _BAD.sub("", label.replace(SEP, " ").replace("=", "-")).replace(" ", "_")
