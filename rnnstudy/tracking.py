"""MLflow, the tracking contract (DESIGN §5): the one module the rest of rnnstudy talks to MLflow
through.

Everything else in rnnstudy writes and reads runs through the functions below (the Lightning
logger in ``rnnstudy.mlflow_logger`` included); nothing here imports torch. Its parts, by job,
are re-exported here: ``tracking_names`` (store address, tag names, clean keys and values, no
mlflow import), ``tracking_links`` (links to the MLflow UI) and ``tracking_sqlite`` (the SQLite
fast path and the retry on a locked database); this module holds the client, writing and
reading.

* Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working directory.
* One experiment per experiment file, tagged ``mlflow.experimentKind=custom_model_development``
  (so the MLflow UI opens on the training runs, not on the GenAI traces page); one parent run
  per invocation, one child per grid point or trial (tag ``mlflow.parentRunId``).
* Metrics are sent in batches (one SQLite write costs milliseconds: logging every step one
  call at a time would cost a quarter of the throughput): ``log_batch`` in chunks of
  ``MAX_BATCH``, except on a SQLite store, where two ``executemany`` statements in one
  transaction write the same rows some 50 times faster (``_sqlite_log_metrics``), on the
  schema revisions that path was checked on (``SQLITE_FAST_PATH_REVISIONS``) only.
* Links to the MLflow UI (``ui_url``, ``experiment_url``, ``run_url``) all carry
  ``?workflowType=machine_learning``: MLflow 3.17 otherwise opens its GenAI pages.
* Passwords in URLs are masked before anything reaches a param, tag or report.
* Reading: every run of a search (all pages), metric histories, text / npz / image artifacts.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from rnnstudy.tracking_links import (
    ML_VIEW,
    UI_HOST,
    UI_PORT,
    experiment_url,
    local_ui,
    run_url,
    ui_base,
    ui_command,
    ui_url,
)
from rnnstudy.tracking_names import (
    CHECKPOINT_TAG,
    COMMIT_TAG,
    DEFAULT_URI,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    HASH_TAG,
    KIND_TAG,
    MAX_BATCH,
    PAGE,
    PARENT_TAG,
    RUN_NAME_TAG,
    clean_key,
    clean_value,
    mask_secrets,
    sqlite_path,
    tracking_uri,
)
from rnnstudy.tracking_sqlite import _sqlite_log_metrics, retry, schema_revision

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm redraws

Client = MlflowClient
__all__ = [
    "CHECKPOINT_TAG",
    "COMMIT_TAG",
    "DEFAULT_URI",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "HASH_TAG",
    "KIND_TAG",
    "MAX_BATCH",
    "ML_VIEW",
    "PAGE",
    "PARENT_TAG",
    "RUN_NAME_TAG",
    "UI_HOST",
    "UI_PORT",
    "Client",
    "MlflowException",
    "Run",
    "clean_key",
    "clean_value",
    "experiment_url",
    "local_ui",
    "mask_secrets",
    "run_url",
    "schema_revision",
    "sqlite_path",
    "tracking_uri",
    "ui_base",
    "ui_command",
    "ui_url",
]


# The alembic revisions of MLflow's SQL schema on which the SQLite fast path
# (``_sqlite_log_metrics``, which writes MLflow's private ``metrics`` / ``latest_metrics``
# tables) was checked against ``log_batch`` (tests/test_tracking.py,
# test_sqlite_bulk_write_stores_what_log_batch_stores). On any other revision metrics go
# through ``log_batch``. MLflow 3.17.2: dc11669786a5. After an MLflow upgrade that test says
# which revision to add here once it passes.
SQLITE_FAST_PATH_REVISIONS = frozenset({"dc11669786a5"})


def import_store() -> None:
    """Import MLflow's SQL store module now unless the store is a tracking server (SQLite
    and PostgreSQL go through it; its import is ≈ 1 s of the store's first use)."""
    if not tracking_uri().startswith(("http://", "https://")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def client(uri: str | None = None) -> MlflowClient:
    return MlflowClient(uri or tracking_uri())


# ---------------------------------------------------------------- writing


def experiment_id(c: MlflowClient, name: str) -> str:
    """The id of experiment ``name`` (created, or restored if deleted), tagged as a training
    experiment (``mlflow.experimentKind=custom_model_development``) if it was not yet."""
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return c.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    if exp.lifecycle_stage == "deleted":
        c.restore_experiment(exp.experiment_id)
    if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        c.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def _str(v: Any) -> str:
    return mask_secrets("None" if v is None else str(v))[:6000]


def start_run(
    c: MlflowClient,
    exp_id: str,
    name: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    parent_id: str | None = None,
) -> str:
    """Create a run (RUNNING) with its params and tags (masked); returns the run id."""
    all_tags = {RUN_NAME_TAG: name, COMMIT_TAG: git_commit()}
    if parent_id:
        all_tags[PARENT_TAG] = parent_id
    all_tags.update(tags or {})
    run = c.create_run(exp_id, run_name=name, tags={k: _str(v) for k, v in all_tags.items()})
    rid = run.info.run_id
    items = [Param(k, _str(v)) for k, v in (params or {}).items()]
    for i in range(0, len(items), 100):
        c.log_batch(rid, params=items[i : i + 100])
    return rid


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, _str(v)) for k, v in tags.items()])


def log_metrics(
    c: MlflowClient,
    run_id: str,
    points: Iterable[tuple] | Mapping[str, float],
    timestamp_ms: int | None = None,
) -> int:
    """Log ``(key, value, step)`` or ``(key, value, step, timestamp_ms)`` points (or
    ``{key: value}`` at step 0); keys are cleaned (``clean_key``), ±inf stored as ±1e308
    (``clean_value``). A SQLite store gets them all in one transaction
    (``_sqlite_log_metrics``), any other store in ``log_batch`` calls of ``MAX_BATCH``.
    Returns the number of points sent."""
    now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    if isinstance(points, Mapping):
        points = [(k, v, 0) for k, v in points.items()]
    items = [
        Metric(clean_key(p[0]), clean_value(p[1]), int(p[3]) if len(p) > 3 else now, int(p[2]))
        for p in points
    ]
    store = _sqlite_store(c)
    if store is not None:
        if items:
            retry(_sqlite_log_metrics, store, run_id, items)
        return len(items)
    for i in range(0, len(items), MAX_BATCH):
        c.log_batch(run_id, metrics=items[i : i + MAX_BATCH], synchronous=True)
    return len(items)


def _sqlite_store(c: Any) -> Any | None:
    """The client's SQLAlchemy store if it is a SQLite one whose schema revision the fast path
    was checked on (``SQLITE_FAST_PATH_REVISIONS``) and no MLflow model is active (which
    ``log_batch`` would attach to every metric), else None: ``log_batch`` then."""
    try:
        store = c._tracking_client.store
    except AttributeError:
        return None
    if getattr(store, "db_type", None) != "sqlite" or not hasattr(store, "ManagedSessionMaker"):
        return None
    if schema_revision(store) not in SQLITE_FAST_PATH_REVISIONS:
        return None
    from mlflow.tracking.fluent import get_active_model_id

    return store if get_active_model_id() is None else None


def log_artifacts(c: MlflowClient, run_id: str, folder: str | Path, under: str | None = None):
    c.log_artifacts(run_id, str(folder), under)


def log_artifact(c: MlflowClient, run_id: str, path: str | Path, under: str | None = None):
    c.log_artifact(run_id, str(path), under)


# ---------------------------------------------------------------- reading


def search_runs(
    c: MlflowClient,
    exp_ids: list[str] | str,
    filter_string: str = "",
    order_by: list[str] | None = None,
    max_results: int | None = None,
) -> list[Run]:
    """Every run matching ``filter_string`` (all pages), or the first ``max_results``."""
    ids = [exp_ids] if isinstance(exp_ids, str) else list(exp_ids)
    runs: list[Run] = []
    token = None
    while True:
        want = PAGE if max_results is None else min(PAGE, max_results - len(runs))
        page = c.search_runs(
            ids, filter_string, order_by=order_by, max_results=want, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token or (max_results is not None and len(runs) >= max_results):
            return runs


def children(c: MlflowClient, exp_id: str, parent_id: str) -> list[Run]:
    """Every child run of ``parent_id`` (any status)."""
    return search_runs(c, exp_id, f"tags.`{PARENT_TAG}` = '{parent_id}'")


def get_run(c: MlflowClient, run_id: str) -> Run:
    return c.get_run(run_id)


def find_experiment(c: MlflowClient, name: str) -> Any | None:
    """The live experiment ``name`` (an MLflow ``Experiment``), or None."""
    exp = c.get_experiment_by_name(name)
    return None if exp is None or exp.lifecycle_stage == "deleted" else exp


def experiment_names(c: MlflowClient) -> list[str]:
    return sorted(e.name for e in c.search_experiments() if e.name != "Default")


def metric_history(c: MlflowClient, run_id: str, key: str) -> list[tuple[int, float, int]]:
    """``[(step, value, timestamp_ms)]`` of one metric of one run, in step order."""
    return sorted((m.step, m.value, m.timestamp) for m in c.get_metric_history(run_id, key))


def last_steps(c: MlflowClient, run_id: str) -> dict[str, int]:
    """{metric key: the largest step the store holds for it} of one run (MLflow's latest
    value of a key is the one at its greatest step)."""
    data = get_run(c, run_id).data
    latest = getattr(data, "_metric_objs", None)  # the latest metrics, with their steps
    if latest is not None:
        return {m.key: int(m.step) for m in latest}
    return {k: max(s for s, _, _ in metric_history(c, run_id, k)) for k in data.metrics}


def list_artifacts(c: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    """Artifact paths of a run (one folder level), [] if the run has none or is unreadable."""
    try:
        return [a.path for a in c.list_artifacts(run_id, path)]
    except Exception:
        return []


def read_artifact_bytes(c: MlflowClient, run_id: str, path: str) -> bytes | None:
    """The content of one artifact file, or None if absent."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(c.download_artifacts(run_id, path, tmp))
        except Exception:
            return None
        return local.read_bytes() if local.is_file() else None


def read_artifact_text(c: MlflowClient, run_id: str, path: str) -> str | None:
    raw = read_artifact_bytes(c, run_id, path)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def read_npz(c: MlflowClient, run_id: str, path: str) -> dict[str, np.ndarray] | None:
    """An ``.npz`` artifact (e.g. ``gradtime/l0.npz``) as a dict of arrays, or None if absent
    or unreadable."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = c.download_artifacts(run_id, path, tmp)
        except Exception:
            return None
        try:
            with np.load(local) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            return None
