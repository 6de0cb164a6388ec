"""The tour's claim (DESIGN §7), read from the child runs' metrics: the report's first table.

Per run: its memory horizon (``final/learned_d_max`` where the distance schedule grew, else
``final/memory_horizon``; capped, shown "≥ d_max", when it reaches ``d_max`` or the run has
the tag ``horizon_capped=true``) and its half-life (``propagation/l0/half_life`` when the
propagation profile was recorded, else the gradient half-life ``gradtime/l0/half_life``).
Per task and cell: the medians over seeds. The claim, per task: the RNN's median horizon is
above 0 and below ``d_max``, and the best gated cell's is at least ``max(3 × RNN's, d_max/2)``.

Worked example (delayed_recall, ``d_max = 60``): RNN horizons 15 and 23 (median 19), LSTM 60
and 60 (capped), GRU 60 and 35 (median 47.5)::

    >>> verdict(19.0, {"lstm": 60.0, "gru": 47.5}, 60)
    (True, 'held: rnn 19 in (0, 60); lstm ≥ 60 >= max(3 x rnn, d_max/2) = 57')
    >>> verdict(0.0, {"lstm": 20.0}, 60)[0]
    False
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnstudy.horizon import claim as verdict
from rnnstudy.horizon import horizon_text, median_half_life, run_horizon
from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.facts import task_config
from rnnstudy.reporting.tables import Table, fmt

GATED = ("lstm", "gru")
CELLS = ("rnn", *GATED)
HALF_LIFE_KEYS = ("propagation/l0/half_life", "gradtime/l0/half_life")
CAPTION = (
    "Per task: each cell's median memory horizon over seeds (the learned d_max where the "
    "distance schedule grew, else the largest distance answered with accuracy ≥ 0.9 over "
    "every shorter one; '≥ d_max' when capped) and median half-life (propagation profile, "
    "else the gradient's), and whether the claim held: the RNN's horizon is inside (0, d_max) "
    "and the best gated cell's is ≥ max(3 × RNN's, d_max/2). seeds: runs with a horizon, "
    "rnn/lstm/gru."
)


def per_run(data: ReportData) -> pd.DataFrame:
    """One row per child run of a task with distances: ``run_id, task, cell, seed, d_max,
    horizon, capped, half_life, half_life_from``."""
    rows = []
    for _, r in data.runs.iterrows():
        params = {k[7:]: v for k, v in r.items() if str(k).startswith("params.")}
        cfg = task_config(params)
        d_max = getattr(cfg, "d_max", None)
        if cfg is None or d_max is None or not getattr(cfg, "has_distances", False):
            continue
        metrics = {
            k[8:]: float(v)
            for k, v in r.items()
            if str(k).startswith("metrics.") and pd.notna(v) and not isinstance(v, str)
        }
        h = run_horizon(metrics, int(d_max))
        tag = str(r.get("tags.horizon_capped", "")).lower() == "true"
        hl, source = math.nan, ""
        for key in HALF_LIFE_KEYS:
            if not math.isnan(metrics.get(key, math.nan)):
                hl, source = metrics[key], key.split("/", 1)[0]
                break
        rows.append(
            {
                "run_id": r["run_id"],
                "task": r["task"],
                "cell": r["cell"],
                "seed": r["seed"],
                "d_max": int(d_max),
                "horizon": math.nan if h is None else float(h.value),
                "capped": bool(h is not None and (h.capped or tag)),
                "half_life": hl,
                "half_life_from": source,
            }
        )
    cols = ["run_id", "task", "cell", "seed", "d_max", "horizon", "capped", "half_life"]
    return pd.DataFrame(rows, columns=[*cols, "half_life_from"])


def _median(values: pd.Series) -> float:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(np.median(v)) if len(v) else math.nan


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task: d_max, per cell median horizon (and whether capped) and half-life, verdict."""
    rows = []
    for task, g in runs.groupby("task", sort=False):
        d_max = int(g["d_max"].max())
        row: dict = {"task": task, "d_max": d_max}
        med: dict[str, float] = {}
        for cell in CELLS:
            sub = g[g["cell"] == cell]
            med[cell] = _median(sub["horizon"])
            row[f"{cell} horizon"] = horizon_text(med[cell], d_max, _capped_median(sub, med[cell]))
            row.setdefault("seeds", []).append(str(int(sub["horizon"].notna().sum())))
            lives = pd.to_numeric(sub["half_life"], errors="coerce")
            row[f"{cell} half-life"] = median_half_life(lives.tolist())
        row["seeds"] = "/".join(row["seeds"])
        sources = sorted(set(g["half_life_from"]) - {""})
        row["half-life from"] = ", ".join(sources) or "n/a"
        held, why = verdict(med["rnn"], {c: med[c] for c in GATED}, d_max)
        row["claim"] = why
        rows.append(row)
    return pd.DataFrame(rows)


def _capped_median(sub: pd.DataFrame, med: float) -> bool:
    """The median is a capped value (every run at the median is capped)."""
    at = sub[sub["horizon"] == med]
    return bool(len(at)) and bool(at["capped"].all())


def applies(data: ReportData, runs: pd.DataFrame) -> bool:
    """The claim compares cells: it applies when the RNN and a gated cell ran and, within each
    task, runs differ only by cell and seed (the tour; not a study that also varies, say, the
    hidden size or the clipping, whose medians would pool unlike runs)."""
    cells = set(runs["cell"])
    if "rnn" not in cells or not cells & set(GATED):
        return False
    labels = data.runs.loc[data.runs["run_id"].isin(runs["run_id"]), ["task", "series", "cell"]]
    per_task = labels.groupby("task")[["series", "cell"]].nunique()
    return bool((per_task["series"] == per_task["cell"]).all())


def build(data: ReportData) -> Table | None:
    runs = per_run(data)
    if runs.empty or not runs["horizon"].notna().any() or not applies(data, runs):
        return None
    frame = summary(runs)
    order = ["task", "d_max", "seeds", *[f"{c} horizon" for c in CELLS]]
    order += [f"{c} half-life" for c in CELLS] + ["half-life from", "claim"]
    frame = frame[[c for c in order if c in frame]]
    return Table(
        "claim", "The claim: memory horizon and half-life per task", CAPTION, frame.map(fmt)
    )
