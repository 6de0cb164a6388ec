"""The one MLflow layer (rnnstudy.tracking): experiment kind, paging, batching, artifacts, and
the rule that no other module imports mlflow."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from rnnstudy import tracking

ROOT = Path(__file__).resolve().parents[1]


def test_only_tracking_and_the_lightning_logger_import_mlflow():
    pattern = re.compile(r"^\s*(import mlflow\b|from mlflow\b)", re.M)
    hits = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "rnnstudy").rglob("*.py")
        if pattern.search(p.read_text())
    )
    assert all(
        h == "rnnstudy/mlflow_logger.py" or re.fullmatch(r"rnnstudy/tracking(_\w+)?\.py", h)
        for h in hits
    ), hits


def test_tracking_imports_no_torch():
    code = "import sys, rnnstudy.tracking; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_experiments_are_training_experiments_also_when_they_existed_before(store):
    raw = MlflowClient(store)
    old = raw.create_experiment("made-elsewhere")
    assert raw.get_experiment(old).tags.get("mlflow.experimentKind") is None
    c = tracking.client()
    assert tracking.experiment_id(c, "made-elsewhere") == old
    new = tracking.experiment_id(c, "fresh")
    for eid in (old, new):
        assert raw.get_experiment(eid).tags["mlflow.experimentKind"] == "custom_model_development"


def test_search_runs_reads_every_page(store, monkeypatch):
    monkeypatch.setattr(tracking, "PAGE", 3)
    c = tracking.client()
    exp = tracking.experiment_id(c, "paged")
    parent = tracking.start_run(c, exp, "p", tags={"rnnstudy.kind": "experiment"})
    kids = {tracking.start_run(c, exp, f"k{i}", {"i": i}, parent_id=parent) for i in range(8)}
    assert {r.info.run_id for r in tracking.children(c, exp, parent)} == kids
    assert len(tracking.search_runs(c, exp)) == 9
    assert len(tracking.search_runs(c, exp, max_results=4)) == 4


def test_log_metrics_batches_cleans_keys_and_keeps_nan(store, monkeypatch):
    c = tracking.client()
    run = tracking.start_run(c, tracking.experiment_id(c, "m"), "r", {"url": "pg://u:pw@h/db"})
    calls = []
    real = tracking._sqlite_log_metrics
    monkeypatch.setattr(
        tracking, "_sqlite_log_metrics", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    points = [("x/w[0]", float(s), s) for s in range(2500)]
    assert tracking.log_metrics(c, run, points) == 2500
    assert len(calls) == 1  # SQLite: one transaction for all 2500
    tracking.log_metrics(c, run, {"nan": math.nan, "big": math.inf})
    hist = tracking.metric_history(c, run, "x/w_0_")
    assert [h[0] for h in hist] == list(range(2500))
    got = tracking.get_run(c, run)
    assert math.isnan(got.data.metrics["nan"]) and got.data.metrics["big"] == 1e308
    assert got.data.params["url"] == "pg://u:***@h/db"


def test_artifacts_read_back_and_missing_ones_are_none(store, tmp_path):
    c = tracking.client()
    run = tracking.start_run(c, tracking.experiment_id(c, "a"), "r")
    folder = tmp_path / "art"
    (folder / "gradtime").mkdir(parents=True)
    np.savez(folder / "gradtime" / "l0.npz", norms=np.arange(6.0).reshape(2, 3))
    (folder / "note.txt").write_text("hello")
    tracking.log_artifacts(c, run, folder)
    z = tracking.read_npz(c, run, "gradtime/l0.npz")
    assert z is not None and np.array_equal(z["norms"], np.arange(6.0).reshape(2, 3))
    assert tracking.read_artifact_text(c, run, "note.txt") == "hello"
    assert tracking.read_npz(c, run, "gradtime/l9.npz") is None
    assert tracking.read_npz(c, run, "note.txt") is None
    assert sorted(tracking.list_artifacts(c, run)) == ["gradtime", "note.txt"]


def _table(uri: str, table: str, run_id: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(tracking.sqlite_path(uri)) as db:
        return sorted(
            db.execute(
                f"SELECT key, value, timestamp, step, is_nan FROM {table} WHERE run_uuid = ?",
                (run_id,),
            ).fetchall()
        )


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def test_sqlite_bulk_write_stores_what_log_batch_stores(store, monkeypatch):
    """The SQLite fast path against MLflow's own log_batch on the same points: both tables
    (every point; per key the latest) and what get_run / search_runs read back."""
    from rnnstudy import mlflow_retry

    c = mlflow_retry.client()  # the fast path must also work through the retrying client
    exp = tracking.experiment_id(c, "bulk")
    # checked here on the installed MLflow's schema (recorded below only once this passes)
    revision = tracking.schema_revision(c._tracking_client.store)
    monkeypatch.setattr(
        tracking, "SQLITE_FAST_PATH_REVISIONS", tracking.SQLITE_FAST_PATH_REVISIONS | {revision}
    )
    fast = []
    real_fast_path = tracking._sqlite_log_metrics
    monkeypatch.setattr(
        tracking, "_sqlite_log_metrics", lambda *a: fast.append(1) or real_fast_path(*a)
    )
    runs = {
        "batch": tracking.start_run(c, exp, "batch"),
        "bulk": tracking.start_run(c, exp, "bulk"),
    }
    calls = [
        [  # unordered steps, ties on (step, timestamp) broken by value, exact duplicates,
            # NaN (stored 0 + is_nan, tying with a real 0), ±inf, a first-of-equals tie
            ("a", 1.0, 5, 100),
            ("a", 2.0, 3, 900),
            ("a", 0.5, 5, 100),
            ("a", 1.0, 5, 100),
            ("b", math.nan, 7, 50),
            ("b", 0.0, 7, 50),
            ("b", 3.0, 2, 60),
            ("c", math.inf, 1, 10),
            ("c", -math.inf, 1, 11),
            ("d", 0.0, 4, 70),
            ("d", math.nan, 4, 70),
        ],
        [  # against stored rows: older (kept), newer (replaces), equal (kept), duplicate
            ("a", 9.0, 4, 999),
            ("b", 1.0, 8, 1),
            ("c", -1e308, 1, 11),
            ("a", 1.0, 5, 100),
            ("d", -5.0, 4, 70),
            ("e/w[0]", 1.5, 0, 5),
        ],
        [(f"k{i % 7}", float(i % 13), i // 3, 1000 + i % 5) for i in range(2345)],
    ]
    real_store = tracking._sqlite_store
    for name, rid in runs.items():
        monkeypatch.setattr(
            tracking, "_sqlite_store", (lambda c: None) if name == "batch" else real_store
        )
        for points in calls:
            tracking.log_metrics(c, rid, points)
    assert len(fast) == len(calls)  # "bulk" went through the fast path, "batch" did not
    a, b = runs["batch"], runs["bulk"]
    assert _table(store, "metrics", a) == _table(store, "metrics", b)
    # 1 duplicate in the first call, 2 in the second (-1e308 is how -inf is stored)
    assert len(_table(store, "metrics", b)) == 10 + 4 + len(set(calls[2]))
    assert _table(store, "latest_metrics", a) == _table(store, "latest_metrics", b)
    assert _same(c.get_run(a).data.metrics, c.get_run(b).data.metrics)
    for key in ("a", "b", "k3"):
        order = tracking.search_runs(c, exp, order_by=[f"metrics.`{key}` DESC"])
        assert [r.data.metrics[key] for r in order][0] == c.get_run(b).data.metrics[key]
    latest = c.get_run(b).data.metrics
    assert (latest["a"], latest["b"], latest["c"], latest["d"]) == (1.0, 1.0, -1e308, 0.0)
    monkeypatch.undo()
    assert revision in tracking.SQLITE_FAST_PATH_REVISIONS, (
        f"the fast path writes what log_batch writes on MLflow's schema revision {revision!r}"
        " too: add it to tracking.SQLITE_FAST_PATH_REVISIONS"
    )


def test_issue21_item7_sqlite_fast_path_only_on_a_checked_schema_revision(store, monkeypatch):
    """A SQLite store at another alembic revision than the fast path was checked on gets its
    metrics through MLflow's log_batch: no direct write into a schema not known to match."""
    import sqlite3

    c = tracking.client()
    rid = tracking.start_run(c, tracking.experiment_id(c, "rev"), "r")
    with sqlite3.connect(tracking.sqlite_path(store)) as db:
        (before,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    fast, batches = [], []
    monkeypatch.setattr(tracking, "_sqlite_log_metrics", lambda *a: fast.append(a))
    real_log_batch = MlflowClient.log_batch
    monkeypatch.setattr(
        MlflowClient,
        "log_batch",
        lambda self, *a, **kw: batches.append(kw) or real_log_batch(self, *a, **kw),
    )
    points = [("loss", 1.0 / (s + 1), s, 1000 + s) for s in range(5)] + [("nan", math.nan, 0)]
    assert tracking.log_metrics(c, rid, points) == 6
    assert fast == [] and len(batches) == 1 and len(batches[0]["metrics"]) == 6
    assert tracking.metric_history(c, rid, "loss") == [
        (s, 1.0 / (s + 1), 1000 + s) for s in range(5)
    ]
    latest = c.get_run(rid).data.metrics
    assert latest["loss"] == 0.2 and math.isnan(latest["nan"])
    assert before in tracking.SQLITE_FAST_PATH_REVISIONS  # the store was one the path knows


def test_sqlite_bulk_write_refuses_a_deleted_run_like_log_batch(store):
    c = tracking.client()
    rid = tracking.start_run(c, tracking.experiment_id(c, "del"), "r")
    c.delete_run(rid)
    with pytest.raises(tracking.MlflowException):
        tracking.log_metrics(c, rid, {"x": 1.0})
