"""The report's data model: child runs with readable labels, their metric histories, and the
same run records the studies compute every table from (``rnnstudy.studies.records``).

A *configuration* is a set of runs that differ only by seed. Its label is the child run's
``config`` tag, written by ``rnnstudy experiment`` from the grid (``rnnstudy.labels``: the
same words as ``summary.csv`` and the parent's ``summary/<config>/…`` metrics). Runs without
the tag (a plain ``rnnstudy run``, older stores) are named here, in the same style, by the
params that vary (``lstm · copy · clip=norm:1``). For a sweep each trial is its own
configuration (``trial 7``).

Columns of ``ReportData.runs`` (one row per child run): ``run_id, run_name, status, cell,
task, clip, seed, outcome, config, task_label, series, trial`` plus the ``params.*``,
``tags.*`` and ``metrics.*`` (last values) columns of ``mlflow.search_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnstudy.reporting import history
from rnnstudy.reporting.facts import Baseline, baseline
from rnnstudy.reporting.store import Store
from rnnstudy.studies.records import CONFIG_TAG, RunRecord, from_run

CELL_ORDER = ["rnn", "lstm", "gru"]
IGNORED = {"seed", "name"}
LABELS = [
    "cell",
    "task",
    "clip",
    "seed",
    "outcome",
    "run_name",
    "trial",
    "config",
    "task_label",
    "series",
]


@dataclass
class ReportData:
    store: Store
    runs: pd.DataFrame
    history: pd.DataFrame  # run_id, key, step, value
    records: list[RunRecord] = field(default_factory=list)  # the children, for the tables

    @property
    def is_sweep(self) -> bool:
        return self.store.kind == "sweep"

    def hist(self, key: str | None = None, prefix: str | None = None) -> pd.DataFrame:
        """History rows of one key (or a key prefix) joined with the run labels."""
        h = self.history
        if key is not None:
            h = h[h["key"] == key]
        if prefix is not None:
            h = h[h["key"].str.startswith(prefix)]
        cols = ["run_id", "cell", "task", "task_label", "series", "config", "seed", "clip"]
        return h.merge(self.runs[cols], on="run_id", how="inner")

    def param(self, key: str) -> pd.Series:
        col = f"params.{key}"
        return self.runs[col] if col in self.runs else pd.Series(None, index=self.runs.index)

    def metric(self, key: str) -> pd.Series:
        col = f"metrics.{key}"
        return self.runs[col] if col in self.runs else pd.Series(np.nan, index=self.runs.index)

    def baseline_of(self, row: pd.Series) -> Baseline:
        return baseline({k[7:]: v for k, v in row.items() if str(k).startswith("params.")})

    def cells(self, values: pd.Series) -> list[str]:
        present = list(dict.fromkeys(values.dropna()))
        return sorted(present, key=lambda c: (CELL_ORDER.index(c) if c in CELL_ORDER else 9, c))


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(None, index=df.index, dtype=object)


def _fmt(v: object) -> str:
    s = str(v)
    try:
        f = float(s)
    except ValueError:
        return s
    return f"{f:g}" if s not in ("True", "False") else s


def _varying(df: pd.DataFrame, cols: list[str]) -> list[str]:
    return [c for c in cols if df[c].fillna("∅").astype(str).nunique() > 1]


def label_runs(kids: pd.DataFrame, sweep: bool = False) -> pd.DataFrame:
    """Add ``cell, task, clip, seed, outcome, config, task_label, series, trial`` columns."""
    df = kids.copy()
    if df.empty:
        for c in LABELS:
            df[c] = pd.Series(dtype=object)
        return df
    df["cell"] = _col(df, "tags.cell").fillna(_col(df, "params.model.cell")).fillna("?")
    df["task"] = _col(df, "tags.task").fillna(_col(df, "params.task.name")).fillna("?")
    df["clip"] = _col(df, "tags.clip").fillna(_col(df, "params.clip.mode")).fillna("?")
    df["seed"] = pd.to_numeric(_col(df, "params.seed"), errors="coerce")
    status = _col(df, "status").fillna("").str.lower()
    df["outcome"] = _col(df, "tags.outcome").fillna(status).replace("", "unknown")
    df["run_name"] = _col(df, "tags.mlflow.runName").fillna(df["run_id"].str[:8])
    df["trial"] = pd.to_numeric(_col(df, "tags.optuna_trial_number"), errors="coerce")
    params = [c for c in df.columns if c.startswith("params.") and c[7:] not in IGNORED]
    task_params = [c for c in params if c.startswith("params.task.") and c != "params.task.name"]
    # task variants: task params that vary among runs of the same task
    variant = pd.Series("", index=df.index)
    for _, idx in df.groupby("task").groups.items():
        sub = df.loc[idx]
        for c in _varying(sub, task_params):
            variant.loc[idx] += " " + c[12:] + "=" + sub[c].map(_fmt)
    df["task_label"] = df["task"] + variant
    vary = set(_varying(df, params))
    parts_task = pd.Series("", index=df.index)
    if "params.task.name" in vary or (variant != "").any():
        parts_task = df["task_label"]
    cell_part: list[pd.Series] = [df["cell"]] if "params.model.cell" in vary else []
    rest: list[pd.Series] = []
    if {"params.clip.mode", "params.clip.value"} & vary:
        rest.append("clip=" + df["clip"])
    skip = {"params.model.cell", "params.clip.mode", "params.clip.value", "params.task.name"}
    for c in sorted(vary - skip - set(task_params)):
        short = c.rsplit(".", 1)[-1]
        rest.append(short + "=" + df[c].fillna("-").map(_fmt))
    series = _join(cell_part + rest, df.index)
    df["series"] = series.where(series != "", df["cell"])
    df["config"] = _join([*cell_part, parts_task, *rest], df.index)
    df.loc[df["config"] == "", "config"] = df["cell"] + " · " + df["task_label"]
    tagged = _col(df, f"tags.{CONFIG_TAG}")
    df["config"] = tagged.where(tagged.notna() & (tagged != ""), df["config"])
    if sweep:
        trial = df["trial"].map(lambda t: "?" if pd.isna(t) else f"{int(t)}")
        df["config"] = "trial " + trial
        df["series"] = df["cell"]
    return df


def _join(parts: list[pd.Series], index: pd.Index) -> pd.Series:
    out = pd.Series("", index=index)
    for p in parts:
        p = p.astype(str)
        out = out.where(p == "", out.where(out == "", out + " · ") + p)
    return out


def load(store: Store) -> ReportData:
    """Label the store's children and fetch their histories in bulk."""
    runs = label_runs(store.children, sweep=store.kind == "sweep")
    metric_keys = [c[8:] for c in runs.columns if c.startswith("metrics.")]
    hist = history.fetch(store.client, store.uri, list(runs["run_id"]), metric_keys)
    return ReportData(store, runs, hist, records(store, runs))


def records(store: Store, runs: pd.DataFrame) -> list[RunRecord]:
    """The children as run records, named by this report's configuration labels."""
    out = []
    for rid, label in zip(runs["run_id"], runs["config"], strict=True):
        run = store.runs.get(rid)
        rec = from_run(store.client, run, str(label)) if run is not None else None
        if rec is not None:
            out.append(rec)
    return out
