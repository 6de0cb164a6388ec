"""Everything the report reads from MLflow: the experiment, its runs, parent CSVs, artifacts.

Reads only (no run is created or changed), through ``rnnstudy.tracking`` plus one bulk query
of metric histories (``rnnstudy.reporting.history``). Works for any store MLflow can open: the
project's ``sqlite:///mlflow.db``, a PostgreSQL backend, or a tracking server::

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python -c \\
        "from rnnstudy.reporting.store import open_store; print(open_store('tour').children.shape)"
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnstudy import tracking
from rnnstudy.config import ConfigError

KIND = f"tags.{tracking.KIND_TAG}"
PARENT = f"tags.{tracking.PARENT_TAG}"


@dataclass
class Store:
    """One MLflow experiment as the report sees it: the chosen parent run and its children.

    ``children`` is ``mlflow.search_runs`` output (columns ``run_id``, ``status``,
    ``start_time``, ``params.*``, ``tags.*``, ``metrics.*`` = last values), one row per child.
    """

    uri: str
    client: tracking.Client
    experiment_id: str
    name: str
    parent: pd.Series | None
    children: pd.DataFrame
    n_parents: int = 0
    notes: list[str] = field(default_factory=list)
    runs: dict[str, tracking.Run] = field(default_factory=dict)  # run id -> the Run read

    @property
    def kind(self) -> str:
        """``experiment``, ``sweep`` or ``runs`` (no parent run: plain ``rnnstudy run``)."""
        if self.parent is None:
            return "runs"
        return str(self.parent.get(KIND) or "experiment")

    def parent_param(self, key: str) -> str | None:
        if self.parent is None:
            return None
        v = self.parent.get(f"params.{key}")
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    def parent_tag(self, key: str) -> str | None:
        v = None if self.parent is None else self.parent.get(f"tags.{key}")
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    def parent_csv(self, name: str) -> pd.DataFrame | None:
        """A CSV artifact of the parent run (``summary.csv``, ``importances.csv``…) or None."""
        if self.parent is None:
            return None
        text = tracking.read_artifact_text(self.client, str(self.parent["run_id"]), name)
        if not text or not text.strip():
            return None
        try:
            return pd.read_csv(io.StringIO(text))
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            return None

    def parent_artifacts(self) -> list[str]:
        if self.parent is None:
            return []
        return tracking.list_artifacts(self.client, str(self.parent["run_id"]))


def _search(client: tracking.Client, experiment_id: str) -> tuple[pd.DataFrame, dict]:
    """Every run of the experiment as ``mlflow.search_runs`` would give it (``run_id``,
    ``status``, ``start_time``, ``params.*``, ``tags.*``, ``metrics.*`` = last values), but
    through this client: the global ``mlflow.set_tracking_uri`` is never touched."""
    rows: list[dict] = []
    found = tracking.search_runs(client, experiment_id)
    for r in found:
        row: dict = {
            "run_id": r.info.run_id,
            "status": r.info.status,
            "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True),
        }
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("run_id", "status", "start_time", KIND, PARENT):
        if col not in df.columns:
            df[col] = pd.Series(dtype=object)
    return df, {r.info.run_id: r for r in found}


def choose_parent(runs: pd.DataFrame, which: str) -> tuple[pd.Series | None, pd.DataFrame, int]:
    """(parent row, its children, number of parent runs) for ``which`` = latest | all | <run id>.

    Parents are runs tagged ``rnnstudy.kind`` experiment/sweep, or referenced as a parent.
    Without any parent (only ``rnnstudy run``), every run of the experiment is a child.
    """
    referenced = set(runs[PARENT].dropna())
    is_parent = runs[KIND].isin(["experiment", "sweep"]) | runs["run_id"].isin(referenced)
    parents = runs[is_parent].sort_values("start_time", ascending=False)
    others = runs[~is_parent]
    if parents.empty:
        return None, others, 0
    if which == "all":
        return parents.iloc[0], others, len(parents)
    if which != "latest":
        hit = parents[parents["run_id"] == which]
        if hit.empty:
            raise ConfigError(f"--parent: no parent run {which!r} in this experiment")
        parent = hit.iloc[0]
    else:
        parent = parents.iloc[0]
    kids = others[others[PARENT] == parent["run_id"]]
    return parent, kids, len(parents)


def open_store(name: str, which: str = "latest", uri: str | None = None) -> Store:
    """The MLflow experiment ``name`` with the parent run ``which``; ConfigError if unknown."""
    uri = uri or tracking.tracking_uri()
    path = tracking.sqlite_path(uri)
    if path is not None:
        if not path.is_file():  # MLflow would silently create an empty store here
            raise ConfigError(
                f"no MLflow store at {path} (set MLFLOW_TRACKING_URI or run from the project folder)"
            )
    client = tracking.client(uri)
    exp = tracking.find_experiment(client, name)
    if exp is None:
        known = tracking.experiment_names(client)
        hint = f"; known: {', '.join(known)}" if known else "; the store has no experiments"
        raise ConfigError(
            f"no MLflow experiment named {name!r} in {tracking.mask_secrets(uri)}{hint}"
        )
    runs, by_id = _search(client, exp.experiment_id)
    parent, kids, n_parents = choose_parent(runs, which)
    kids = kids.sort_values("start_time").reset_index(drop=True)
    notes = []
    if n_parents > 1 and which == "latest":
        notes.append(
            f"{n_parents} invocations recorded; this report shows the latest"
            " (choose another with --parent RUN_ID, or --parent all)"
        )
    mine = {rid: by_id[rid] for rid in kids["run_id"]}
    return Store(uri, client, exp.experiment_id, name, parent, kids, n_parents, notes, mine)
