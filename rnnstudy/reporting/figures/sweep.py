"""What the three sweep figures share: the trials as a frame, the objective and the space.

Sweep parents (tag ``rnnstudy.kind=sweep``) carry params ``metric``, ``direction`` and one
``space.<path>`` (JSON) per dimension; each child is a trial with tags
``optuna_trial_number``, ``optuna_state`` and ``optuna_value``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from rnnstudy.reporting.data import ReportData


@dataclass
class Trials:
    frame: pd.DataFrame  # trial, state, value, run_id, and one column per space path
    metric: str
    maximize: bool
    space: dict[str, dict]  # path -> spec ({"type": "float", "log": true, ...})


def trials(data: ReportData) -> Trials | None:
    if not data.is_sweep or data.runs.empty:
        return None
    runs = data.runs
    space: dict[str, dict] = {}
    if data.store.parent is not None:
        for k, v in data.store.parent.items():
            if str(k).startswith("params.space.") and isinstance(v, str):
                try:
                    space[str(k)[len("params.space.") :]] = json.loads(v)
                except json.JSONDecodeError:
                    space[str(k)[len("params.space.") :]] = {}
    value = pd.to_numeric(
        runs["tags.optuna_value"] if "tags.optuna_value" in runs else pd.Series(dtype=float),
        errors="coerce",
    )
    state = runs["tags.optuna_state"] if "tags.optuna_state" in runs else runs["outcome"]
    df = pd.DataFrame(
        {
            "trial": runs["trial"],
            "state": state.fillna("?"),
            "value": value,
            "run_id": runs["run_id"],
        }
    )
    for path in space:
        df[path] = runs.get(f"params.{path}")
    df = df.dropna(subset=["trial"]).sort_values("trial").reset_index(drop=True)
    if df.empty:
        return None
    metric = data.store.parent_param("metric") or "objective"
    maximize = (data.store.parent_param("direction") or "maximize").lower().startswith("max")
    return Trials(df, metric, maximize, space)
