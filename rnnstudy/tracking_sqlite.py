"""The SQLite side of the store: retrying a call that hits a locked database, reading the schema
revision, and the fast metric write (two ``executemany`` statements in one transaction) that
``rnnstudy.tracking.log_metrics`` uses on the schema revisions it was checked on.

SQLite serialises writers. MLflow sets ``PRAGMA busy_timeout`` per session, but a writer can
still get ``database is locked`` at once (a read transaction that upgrades to a write while
another process holds the lock does not wait). With ``rnnstudy experiment --jobs N`` several
processes write to one ``mlflow.db``, so calls are retried with backoff on that error
(``retry``; ``rnnstudy.mlflow_retry`` wraps every client call in it). A failed SQLite
transaction is rolled back whole, so retrying a call never records it twice.

This module imports no other rnnstudy module: ``tracking`` and ``mlflow_retry`` both import it,
which keeps the import graph free of circles (tests/test_architecture.py).
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities import Metric

LOCKED = ("database is locked", "database table is locked", "database schema is locked")
TRIES = 12


def is_locked(err: BaseException) -> bool:
    text = str(err).lower()
    return any(m in text for m in LOCKED)


def retry(fn: Callable[..., Any], *args: Any, tries: int = TRIES, **kwargs: Any) -> Any:
    """Call ``fn``; on a locked-database error wait (0.05 s doubling, jittered) and try again."""
    delay = 0.05
    for attempt in range(tries):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if not is_locked(err) or attempt == tries - 1:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


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
