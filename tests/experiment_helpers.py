"""Shared by the tests that run ``rnnstudy experiment`` on an experiment file: the quick-profile
run read back from MLflow (test_experiments, test_repro) and a child process for the resume
tests to kill (test_checkpoint_resume, test_parallel_resume). Asserts here are rewritten by
pytest (tests/conftest.py registers this module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from rnnstudy.cli import main


def run_quick(path: Path, store: str, name: str) -> tuple[MlflowClient, Run, list[Run]]:
    """``rnnstudy experiment FILE --profile quick`` (one job, no progress bar, no report) must
    exit 0; then the client, the newest ``quick`` parent run of experiment ``name`` and its
    child runs."""
    args = ["--profile", "quick", "--jobs", "1", "--no-progress", "--no-report"]
    rc = main(["experiment", str(path), *args])
    assert rc == 0
    c = MlflowClient(store)
    eid = c.get_experiment_by_name(name).experiment_id
    parent = c.search_runs(
        [eid],
        "tags.`rnnstudy.kind` = 'experiment' and tags.profile = 'quick'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    kids = c.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return c, parent, kids


def start_experiment(path: Path) -> subprocess.Popen:
    """``rnnstudy experiment FILE --jobs 1 --no-progress --no-report`` in a child process, its
    output discarded."""
    cmd = [sys.executable, "-m", "rnnstudy.cli", "experiment", str(path), "--jobs", "1"]
    return subprocess.Popen(
        [*cmd, "--no-progress", "--no-report"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
