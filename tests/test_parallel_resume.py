"""``rnnstudy experiment`` in worker processes and ``--resume`` on a 6-point experiment.

    .venv/bin/pytest -q tests/test_parallel_resume.py

1. No ``--jobs`` (one worker per core): 6 FINISHED child runs under one parent, none lost,
   none duplicated; the per-point lines and the summary printed.
2. Kill the experiment process (SIGKILL) once 2 of its 6 points are FINISHED in MLflow, then
   re-run with ``--resume``: 6 FINISHED child runs in all, the finished ones not repeated, the
   child that was cut off marked KILLED, and the same parent run FINISHED.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rnnstudy.cli import main
from rnnstudy.parallel import cores
from tests.experiment_helpers import start_experiment

SIX_POINTS = """\
name: {name}
base:
  task: {{name: delayed_recall, A: 4, D: 3, L: 8}}
  model: {{hidden_size: 8}}
  train: {{max_steps: {steps}, batch_size: 8, val_every: 10, val_size: 32}}
  probe: {{every: 10}}
grid:
  model.cell: [rnn, gru]
  seed: [0, 1, 2]
profiles:
  full: {{}}
  quick: {{train.max_steps: 4}}
"""


def write(tmp_path: Path, name: str, steps: int) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(SIX_POINTS.format(name=name, steps=steps))
    return p


def parent_and_children(c: MlflowClient, name: str) -> tuple[str | None, list]:
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return None, []
    parents = c.search_runs(
        [exp.experiment_id],
        "tags.`rnnstudy.kind` = 'experiment'",
        order_by=["attributes.start_time DESC"],
    )
    if not parents:
        return None, []
    pid = parents[0].info.run_id
    kids = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{pid}'")
    return pid, list(kids)


def finished(kids: list) -> list:
    return [r for r in kids if r.info.status == "FINISHED"]


def test_default_jobs_is_the_cores_six_points(tmp_path: Path, agg_store: str, capfd) -> None:
    """No --jobs: one worker process per core (issue 16), reused across points; the per-point
    lines and the summary are still printed, and the workers' validation lines reach stderr."""
    path = write(tmp_path, "six_parallel", steps=20)
    rc = main(["experiment", str(path), "--no-progress", "--no-report"])
    assert rc == 0
    out, err = capfd.readouterr()
    assert f"(--jobs {cores()})" in out
    assert (
        sum(line.startswith(tuple(f"[{i}/6] " for i in range(1, 7))) for line in out.splitlines())
        == 6
    )
    assert "Per point" in out
    assert "step 20" in err
    c = MlflowClient(agg_store)
    pid, kids = parent_and_children(c, "six_parallel")
    done = finished(kids)
    assert len(kids) == 6, [r.info.status for r in kids]  # none duplicated
    assert len(done) == 6  # none lost
    assert len({r.data.tags["config_hash"] for r in done}) == 6
    assert c.get_run(pid).info.status == "FINISHED"
    assert c.get_run(pid).data.metrics["summary/runs"] == 6


def test_kill_after_two_then_resume(tmp_path: Path, agg_store: str) -> None:
    path = write(tmp_path, "six_resume", steps=60)
    proc = start_experiment(path)
    c = MlflowClient(agg_store)
    deadline = time.monotonic() + 300
    try:
        while True:
            assert proc.poll() is None, "the experiment ended before it could be interrupted"
            assert time.monotonic() < deadline, "no 2 finished points within 300 s"
            _, kids = parent_and_children(c, "six_resume")
            if len(finished(kids)) >= 2:
                break
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    pid, kids = parent_and_children(c, "six_resume")
    before = {r.info.run_id for r in finished(kids)}
    assert 2 <= len(before) < 6, f"{len(before)} points finished before the kill"
    print(f"killed with {len(before)} of 6 points finished")

    rc = main(["experiment", str(path), "--resume", "--jobs", "1", "--no-progress", "--no-report"])
    assert rc == 0
    pid2, kids = parent_and_children(c, "six_resume")
    assert pid2 == pid  # the same parent run, resumed
    done = finished(kids)
    assert len(done) == 6
    assert len({r.data.tags["config_hash"] for r in done}) == 6  # every point exactly once
    assert before <= {r.info.run_id for r in done}  # the finished ones were not repeated
    rest = [r for r in kids if r.info.status != "FINISHED"]
    assert all(r.info.status == "KILLED" for r in rest)  # the one cut off by the kill
    assert len(kids) == 6 + len(rest)
    print(f"after --resume: {len(done)} finished, {len(rest)} killed, parent {pid} reused")
    assert c.get_run(pid).info.status == "FINISHED"


def test_retry_on_locked_database_only() -> None:
    from rnnstudy.mlflow_retry import retry

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert retry(flaky) == "ok" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise ValueError("no such run")

    calls.clear()
    with pytest.raises(ValueError):
        retry(broken)
    assert len(calls) == 1  # other errors are not retried
