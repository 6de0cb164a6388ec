"""MLflow, the tracking contract (DESIGN §5): the one module that talks to MLflow.

Everything else in rnnstudy writes and reads runs through the functions below (the Lightning
logger in ``rnnstudy.mlflow_logger`` included); nothing here imports torch.

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

import math
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm redraws

Client = MlflowClient
__all__ = ["Client", "MlflowException", "Run"]

DEFAULT_URI = "sqlite:///mlflow.db"
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
PAGE = 1000  # runs per search_runs page

# tag names (DESIGN §5)
PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
COMMIT_TAG = "mlflow.source.git.commit"
KIND_TAG = "rnnstudy.kind"  # experiment | sweep, on parent runs
HASH_TAG = "config_hash"  # resolved-config hash, on child runs (rnnstudy.resume)
CHECKPOINT_TAG = "checkpoint_step"  # step of the run's checkpoint (rnnstudy.checkpoint)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

_KEY_BAD = re.compile(r"[^/\w.\- ]")

# The MLflow UI (``rnnstudy ui``, ``make ui``) and the links to it.
UI_HOST = "127.0.0.1"
UI_PORT = 5000
ML_VIEW = {"workflowType": "machine_learning"}  # the "Model training" view, not GenAI

# The alembic revisions of MLflow's SQL schema on which the SQLite fast path
# (``_sqlite_log_metrics``, which writes MLflow's private ``metrics`` / ``latest_metrics``
# tables) was checked against ``log_batch`` (tests/test_tracking.py,
# test_sqlite_bulk_write_stores_what_log_batch_stores). On any other revision metrics go
# through ``log_batch``. MLflow 3.17.2: dc11669786a5. After an MLflow upgrade that test says
# which revision to add here once it passes.
SQLITE_FAST_PATH_REVISIONS = frozenset({"dc11669786a5"})


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` (DESIGN §5)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def import_store() -> None:
    """Import MLflow's SQL store module now unless the store is a tracking server (SQLite
    and PostgreSQL go through it; its import is ≈ 1 s of the store's first use)."""
    if not tracking_uri().startswith(("http://", "https://")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URI, else None.

    >>> sqlite_path("sqlite:////tmp/x/mlflow.db?mode=ro")
    PosixPath('/tmp/x/mlflow.db')
    >>> sqlite_path("postgresql://u@h/db") is None
    True
    """
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].split("?", 1)[0])


def mask_secrets(text: str) -> str:
    """Mask passwords in URLs and ``password=`` settings.

    >>> mask_secrets("postgresql://user:secret@host/db")
    'postgresql://user:***@host/db'
    >>> mask_secrets("host=h password=pw&x=1")
    'host=h password=***&x=1'
    """
    text = re.sub(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(?i)(password=)[^&\s]+", r"\1***", text)


def clean_key(key: str) -> str:
    """A metric key MLflow accepts (``^[/\\w.\\- ]*$``): other characters become ``_``.

    >>> clean_key("val/acc_by_distance/12")
    'val/acc_by_distance/12'
    >>> clean_key("grad/param/w[0]")
    'grad/param/w_0_'
    """
    return _KEY_BAD.sub("_", key)


def clean_value(v: float) -> float:
    """A float MLflow stores portably: NaN stays NaN, ±inf becomes ±1e308.

    >>> clean_value(float("-inf")), clean_value(2)
    (-1e+308, 2.0)
    """
    v = float(v)
    if math.isinf(v):
        return math.copysign(1e308, v)
    return v


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


# ---------------------------------------------------------------- the MLflow UI


def ui_command(uri: str | None = None, port: int = UI_PORT, workers: int | None = None) -> list:
    """The command that serves the MLflow UI over ``uri`` on 127.0.0.1:``port``: MLflow of
    this interpreter (``python -m mlflow``), so it works with no virtual environment activated
    (a bare ``mlflow`` is looked up on PATH)."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", UI_HOST, "--port", str(port)]
    cmd += ["--backend-store-uri", uri or tracking_uri()]
    return cmd + (["--workers", str(workers)] if workers else [])


def ui_base(uri: str | None = None, port: int = UI_PORT) -> str:
    """Where the MLflow UI over the store is: a tracking server's own address (password
    masked), else ``rnnstudy ui``'s ``http://127.0.0.1:<port>``.

    >>> ui_base("http://u:pw@mlflow-host:5000/")
    'http://u:***@mlflow-host:5000'
    >>> ui_base("sqlite:///mlflow.db")
    'http://127.0.0.1:5000'
    """
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        return mask_secrets(uri).rstrip("/")
    return local_ui(port)


def local_ui(port: int = UI_PORT) -> str:
    """The address ``rnnstudy ui --port <port>`` serves on."""
    return f"http://{UI_HOST}:{port}"


def ui_url(route: str = "experiments", base: str | None = None, **query: str) -> str:
    """A link into the MLflow UI (``#/<route>``) in the Model-training view: every link the
    harness prints or writes is made here.

    >>> ui_url(base="http://127.0.0.1:5000")
    'http://127.0.0.1:5000/#/experiments?workflowType=machine_learning'
    """
    q = urllib.parse.urlencode({**ML_VIEW, **query})
    return f"{base or ui_base()}/#/{route.strip('/')}?{q}"


def experiment_url(exp_id: str, base: str | None = None, **query: str) -> str:
    """The experiment's runs in the MLflow UI."""
    return ui_url(f"experiments/{exp_id}/runs", base, **query)


def run_url(exp_id: str, run_id: str, tab: str = "", base: str | None = None) -> str:
    """One run (a parent run too) in the MLflow UI; ``tab``: e.g. ``artifacts``.

    >>> run_url("3", "ab12", base="http://127.0.0.1:5000")
    'http://127.0.0.1:5000/#/experiments/3/runs/ab12?workflowType=machine_learning'
    """
    return ui_url(f"experiments/{exp_id}/runs/{run_id}/{tab}", base)


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
            from rnnstudy.mlflow_retry import retry  # imports this module: not at the top

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


_revisions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def schema_revision(store: Any) -> str | None:
    """The alembic revision of a SQL store's database (``alembic_version``), read once per
    store object; None if it cannot be read (not remembered: a locked database is read again
    next time)."""
    if store not in _revisions:
        from sqlalchemy import text

        try:
            with store.ManagedSessionMaker() as session:
                rows = session.execute(text("SELECT version_num FROM alembic_version")).all()
        except Exception:
            return None
        _revisions[store] = rows[0][0] if len(rows) == 1 else None
    return _revisions[store]


_COLUMNS = "(key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT = f"INSERT OR IGNORE INTO metrics {_COLUMNS}"
_UPSERT = (
    f"INSERT INTO latest_metrics {_COLUMNS} ON CONFLICT (key, run_uuid) DO UPDATE SET"
    " value = excluded.value, timestamp = excluded.timestamp, step = excluded.step,"
    " is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, excluded.value)"
    " > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)


def _sqlite_log_metrics(store: Any, run_id: str, metrics: list[Metric]) -> None:
    """What ``log_batch(run_id, metrics=...)`` writes to a SQLite store, as two
    ``executemany`` statements on the DB-API cursor in one transaction (≈ 3 µs a metric;
    ≈ 26-45 µs through SQLAlchemy's bulk insert, ≈ 100-230 µs through MLflow's ORM).

    * ``metrics``: one row per point, values sanitised as MLflow does (NaN stored as 0 with
      ``is_nan``, ±inf as ±max float); a point equal to one already stored is skipped
      (``INSERT OR IGNORE`` on MLflow's primary key), as ``log_batch`` skips it.
    * ``latest_metrics``: per key the greatest (step, timestamp, value), the first of equals,
      replacing the stored row only if strictly greater (MLflow's rule; the MLflow UI and
      ``search_runs`` read this table).

    The run must exist and be active (MLflow's check). Points are validated like
    ``log_batch``'s, the name and types once per key: ``log_metrics`` made every value a float
    and every step and timestamp an int. The test compares both tables with ``log_batch``'s.
    """
    from mlflow.utils.validation import _validate_metric

    rows: list[tuple] = []
    latest: dict[str, tuple] = {}
    for idx, m in enumerate(metrics):
        key, step, ts = m.key, m.step, m.timestamp
        is_nan, value = store.sanitize_metric_value(m.value)
        row = (key, value, ts, step, is_nan, run_id)
        rows.append(row)
        best = latest.get(key)
        if best is None:
            _validate_metric(key, m.value, ts, step, path=f"metrics[{idx}]")
            latest[key] = row
        elif (step, ts, value) > (best[3], best[2], best[1]):
            latest[key] = row
    with store.ManagedSessionMaker(read_only=False) as session:
        store._check_run_is_active(store._get_run(run_uuid=run_id, session=session))
        cursor = session.connection().connection.cursor()
        try:
            cursor.executemany(_INSERT, rows)
            cursor.executemany(_UPSERT, list(latest.values()))
        finally:
            cursor.close()


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


def __getattr__(name: str) -> Any:
    """``tracking.BufferedMLflowLogger`` still works (imported lazily: it needs torch);
    new code imports it from ``rnnstudy.mlflow_logger``."""
    if name == "BufferedMLflowLogger":
        from rnnstudy.mlflow_logger import BufferedMLflowLogger

        return BufferedMLflowLogger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
