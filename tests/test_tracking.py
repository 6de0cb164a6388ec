"""The one MLflow layer (rnnstudy.tracking): experiment kind, paging, batching, artifacts, and
the rule that no other module imports mlflow."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    assert set(hits) <= {"rnnstudy/tracking.py", "rnnstudy/mlflow_logger.py"}, hits


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
    real = c.log_batch
    monkeypatch.setattr(c, "log_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    points = [("x/w[0]", float(s), s) for s in range(2500)]
    assert tracking.log_metrics(c, run, points) == 2500
    assert len(calls) == 3  # 1000 + 1000 + 500
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
