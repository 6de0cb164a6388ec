"""Metric histories of many runs in bulk: one SQL query for a database store.

``MlflowClient.get_metric_history`` is one request per metric per run: 100 runs x 15 metrics
is 1,500 round trips. For a database store (``sqlite:///…``, ``postgresql://…``: the tracking
URI is a SQLAlchemy URL) the ``metrics`` table is read with one query; other stores (a
tracking server) fall back to ``get_metric_history`` for the few keys the report needs, in a
thread pool. Measure with ``python -m benchmarks.report_store``.

The result is a long frame: ``run_id, key, step, value`` (NaN restored; last write wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rnnstudy import tracking

#: Exact keys and key prefixes the figures use (not ``grad/param/*``, not ``gradtime/*``).
KEYS = ("train/loss", "grad/norm_preclip", "grad/clip_rate", "train/learned_d_max")
PREFIXES = ("val/", "spectral/", "credit/l0/by_distance/")
COLUMNS = ["run_id", "key", "step", "value"]
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def wanted(key: str) -> bool:
    if key in KEYS:
        return True
    if key.startswith("spectral/"):
        return key.endswith("/radius")
    return key.startswith(PREFIXES)


def is_sql(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] in SQL_SCHEMES


def fetch(
    client: tracking.Client, uri: str, run_ids: Sequence[str], known_keys: Iterable[str] = ()
) -> pd.DataFrame:
    """Histories of the wanted keys for ``run_ids``. ``known_keys``: the ``metrics.*`` names
    that ``search_runs`` reported (the fallback asks only for those)."""
    if not run_ids:
        return empty()
    if is_sql(uri):
        try:
            return _tidy(_sql(uri, run_ids))
        except sa.exc.SQLAlchemyError:
            pass  # unexpected schema: take the slow, public path
    keys = sorted(k for k in known_keys if wanted(k))
    return _tidy(_per_key(client, run_ids, keys))


def _sql(uri: str, run_ids: Sequence[str]) -> pd.DataFrame:
    engine = sa.create_engine(uri)
    cond = sa.or_(
        sa.column("key").in_(KEYS),
        sa.column("key").like("val/%"),
        sa.column("key").like("spectral/%/radius"),
        sa.column("key").like("credit/l0/by_distance/%"),
    )
    frames = []
    try:
        with engine.connect() as conn:
            for i in range(0, len(run_ids), 500):  # SQLite's variable limit
                q = (
                    sa.select(
                        sa.column("run_uuid").label("run_id"),
                        sa.column("key"),
                        sa.column("step"),
                        sa.column("value"),
                        sa.column("is_nan"),
                        sa.column("timestamp"),
                    )
                    .select_from(sa.table("metrics"))
                    .where(sa.column("run_uuid").in_(list(run_ids[i : i + 500])), cond)
                )
                frames.append(
                    pd.DataFrame(
                        conn.execute(q).fetchall(), columns=list(q.selected_columns.keys())
                    )
                )
    finally:
        engine.dispose()
    df = pd.concat(frames, ignore_index=True)
    df["value"] = df["value"].astype(float)
    df.loc[df["is_nan"].astype(bool), "value"] = np.nan
    return df


def _per_key(client: tracking.Client, run_ids: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    def one(pair: tuple[str, str]) -> list[tuple]:
        rid, key = pair
        try:
            hist = tracking.metric_history(client, rid, key)
        except Exception:
            return []
        return [(rid, key, step, value, False, ts) for step, value, ts in hist]

    pairs = [(r, k) for r in run_ids for k in keys]
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = [row for chunk in pool.map(one, pairs) for row in chunk]
    return pd.DataFrame(rows, columns=[*COLUMNS, "is_nan", "timestamp"])


def empty() -> pd.DataFrame:
    """No history, with the column types of a real one (figures filter ``value`` with numpy)."""
    return pd.DataFrame(
        {
            "run_id": pd.Series(dtype=object),
            "key": pd.Series(dtype=object),
            "step": pd.Series(dtype=np.int64),
            "value": pd.Series(dtype=np.float64),
        }
    )


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return empty()
    df = df.sort_values(["run_id", "key", "step", "timestamp"])
    df = df.drop_duplicates(["run_id", "key", "step"], keep="last")
    df["step"] = df["step"].astype(int)
    big = df["value"].abs() >= 1e300  # tracking.clean_value stores ±inf as ±1e308
    df.loc[big, "value"] = np.sign(df.loc[big, "value"]) * np.inf
    return df[COLUMNS].reset_index(drop=True)
