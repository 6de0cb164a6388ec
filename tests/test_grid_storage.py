"""``rnnstudy experiment FILE --storage URL``: one grid shared by many workers (issue 25).

    .venv/bin/pytest -q tests/test_grid_storage.py        (about a minute on 2 cores)

1. Three worker processes on a journal file, then three against a PostgreSQL server and an
   MLflow tracking server started here on loopback (the fixtures of
   ``tests/test_sweeps_distributed.py``; no PostgreSQL binaries: FAIL, not skip). One worker is
   SIGKILLed while its point's MLflow run is RUNNING: every point ends with exactly one
   FINISHED run, under one parent, with one summary trial, one summary and one report; the
   killed point is finished by another worker.
2. Each point's metrics equal those of ``--jobs 1`` (no storage) on the same grid and seeds.
3. ``--resume`` and the ``config_hash`` resume with a storage; bad ``--storage`` input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from rnnstudy.cli import main
from rnnstudy.commands import check_points
from rnnstudy.experiment import expand, load_experiment
from rnnstudy.grid_queue import KIND, PARENT, study_name
from rnnstudy.sweeps.storage import open_storage
from tests.conftest_sweeps import free_port
from tests.test_sweeps_distributed import PASSWORD, _stop, mlflow_server, postgres  # noqa: F401

GRID = """\
name: gridq
base:
  task: {name: copy, A: 4, K: 3, T: 8}
  model: {hidden_size: 8}
  train: {max_steps: 100, batch_size: 16, val_every: 20, val_size: 32}
  probe: {enabled: false}
grid:
  model.cell: [rnn, gru]
  seed: [0, 1]
"""
NAME = "gridq"


def write_grid(folder: Path) -> Path:
    path = folder / "gridq.yaml"
    path.write_text(GRID)
    return path


def grid_study(path: Path) -> tuple[str, list[str]]:
    hashes = check_points(expand(load_experiment(path)), 1)
    return study_name(NAME, "full", hashes), hashes


def runs(c: MlflowClient) -> tuple[list, list]:
    """(experiment parent runs, their child runs) of the grid."""
    exp = c.get_experiment_by_name(NAME)
    assert exp is not None
    everything = c.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in everything if r.data.tags.get("rnnstudy.kind") == "experiment"]
    ids = {p.info.run_id for p in parents}
    return parents, [r for r in everything if r.data.tags.get("mlflow.parentRunId") in ids]


def metrics_by_hash(kids: list) -> dict[str, dict[str, float]]:
    """The FINISHED children's metrics (all but times), keyed by config_hash."""
    return {
        r.data.tags["config_hash"]: {k: v for k, v in r.data.metrics.items() if "time" not in k}
        for r in kids
        if r.info.status == "FINISHED"
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The grid run by ``--jobs 1`` without a storage: (its folder, metrics by config_hash)."""
    d = tmp_path_factory.mktemp("jobs1")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{d / 'mlflow.db'}")
    mp.chdir(d)
    try:
        assert main(["experiment", str(write_grid(d)), "--jobs", "1", "--no-progress",
                     "--no-report"]) == 0  # fmt: skip
        parents, kids = runs(MlflowClient(f"sqlite:///{d / 'mlflow.db'}"))
    finally:
        mp.undo()
    assert len(parents) == 1 and len(kids) == 4
    return d, metrics_by_hash(kids)


class Workers:
    """N ``rnnstudy experiment --storage`` processes, each ``--jobs 1``; all stopped on exit."""

    def __init__(self, folder: Path, path: Path, storage: str, uri: str, n: int):
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1"}
        env["MPLBACKEND"] = "agg"
        cmd = [sys.executable, "-m", "rnnstudy.cli", "experiment", str(path), "--storage",
               storage, "--jobs", "1", "--no-progress", "--heartbeat", "1", "--grace", "4"]  # fmt: skip
        self.logs = [folder / f"worker{i}.log" for i in range(n)]
        self.procs: list[subprocess.Popen] = []
        for log in self.logs:
            with open(log, "wb") as fh:
                self.procs.append(subprocess.Popen(
                    cmd, cwd=folder, env=env, stdout=fh, stderr=subprocess.STDOUT,
                    start_new_session=True,
                ))  # fmt: skip

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            _stop(p)

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in self.logs)


def kill_mid_point(w: Workers, storage: str, study: str, c: MlflowClient) -> tuple[int, str]:
    """SIGKILL a worker while its point's MLflow run is RUNNING: (its trial number, hash)."""
    reader = open_storage(storage, study).storage
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            trials = optuna.load_study(study_name=study, storage=reader).get_trials()
            _, kids = runs(c)
        except Exception:  # no study / experiment yet, or a locked SQLite store: look again
            continue
        live = {r.data.tags.get("config_hash") for r in kids if r.info.status == "RUNNING"}
        for t in trials:
            pid = int(str(t.user_attrs.get("worker", "::")).split(":")[1] or 0)
            mine = [p for p in w.procs if p.pid == pid]
            h = t.user_attrs.get("config_hash")
            if t.state == TrialState.RUNNING and mine and h in live:
                os.killpg(mine[0].pid, signal.SIGKILL)
                mine[0].wait(timeout=30)
                return t.number, str(h)
    pytest.fail(f"no point caught mid-run\n{w.output()}")


def check_grid(
    w: Workers, storage: str, study: str, c: MlflowClient, killed: tuple[int, str], want: dict
) -> str:
    """Every must-show of point 1 and 2 (module docstring); returns the parent run id."""
    victim = [p for p in w.procs if p.returncode == -signal.SIGKILL]
    survivors = [p for p in w.procs if p not in victim]
    for p in survivors:
        p.wait(timeout=240)
    assert len(victim) == 1 and [p.returncode for p in survivors] == [0, 0], w.output()
    output = w.output()

    trials = optuna.load_study(study_name=study, storage=open_storage(storage, study).storage)
    parent = trials.user_attrs[PARENT]
    trials = trials.get_trials()
    points = [t for t in trials if t.user_attrs[KIND] == "point"]
    summaries = [t for t in trials if t.user_attrs[KIND] == "summary"]
    complete = [t for t in points if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["config_hash"] for t in complete) == sorted(want)  # each once
    number, h = killed
    dead = next(t for t in points if t.number == number)
    assert dead.state == TrialState.FAIL and dead.user_attrs["config_hash"] == h
    retry = [t for t in complete if t.system_attrs.get("failed_trial") == number]
    assert len(retry) == 1 and retry[0].user_attrs["worker"] != dead.user_attrs["worker"]
    assert len(points) == 5  # 4 points + the one retry
    assert [t.state for t in summaries] == [TrialState.COMPLETE]

    parents, kids = runs(c)
    assert [p.info.run_id for p in parents] == [parent]
    top = c.get_run(parent)
    assert top.info.status == "FINISHED" and top.data.tags["outcome"] == "finished"
    assert top.data.metrics["summary/runs"] == 4
    assert sorted(r.data.tags["config_hash"] for r in kids if r.info.status == "FINISHED") == (
        sorted(want)
    )  # every point exactly once FINISHED
    lost = [r for r in kids if r.info.status != "FINISHED"]
    assert [(r.data.tags["config_hash"], r.info.status) for r in lost] == [(h, "KILLED")]
    assert lost[0].data.tags["outcome"] == "interrupted"
    assert "worker lost" in lost[0].data.tags["error"]
    report = [a.path for a in c.list_artifacts(parent, "report")]
    assert sorted(report) == ["report/index.html", "report/report.pdf"]
    assert output.count("\nreport gridq:") == 1  # one worker built the report
    assert output.count("Outcomes per configuration") == 1  # ... and printed the summary
    assert metrics_by_hash(kids) == want  # the same numbers as --jobs 1
    return parent


def test_three_workers_on_a_journal_file(tmp_path: Path, baseline, monkeypatch) -> None:
    path = write_grid(tmp_path)
    study, hashes = grid_study(path)
    journal = str(tmp_path / "optuna" / "grid.journal")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(uri)
    t0 = time.monotonic()
    with Workers(tmp_path, path, journal, uri, 3) as w:
        killed = kill_mid_point(w, journal, study, c)
        parent = check_grid(w, journal, study, c, killed, baseline[1])
    print(f"journal: 3 workers, one killed, 4 points + summary in {time.monotonic() - t0:.1f}s")

    # the same command again: the grid is done, nothing runs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    argv = ["experiment", str(path), "--storage", journal, "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    assert len(runs(c)[1]) == 5
    # --resume re-runs a point that has no FINISHED run (here: one marked KILLED by hand)
    kids = runs(c)[1]
    gone = next(r for r in kids if r.data.tags["config_hash"] != killed[1])  # its only run
    c.set_terminated(gone.info.run_id, "KILLED")
    assert main([*argv, "--resume", "--no-report"]) == 0
    parents, kids = runs(c)
    assert [p.info.run_id for p in parents] == [parent]
    assert c.get_run(parent).info.status == "FINISHED"
    again = [r for r in kids if r.data.tags["config_hash"] == gone.data.tags["config_hash"]]
    assert sorted(r.info.status for r in again) == ["FINISHED", "KILLED"]
    assert metrics_by_hash(kids) == baseline[1]


def test_three_workers_on_postgresql(
    tmp_path: Path,
    baseline,
    postgres: str,  # noqa: F811
    mlflow_server: str,  # noqa: F811
) -> None:
    path = write_grid(tmp_path)
    study, _ = grid_study(path)
    c = MlflowClient(mlflow_server)
    t0 = time.monotonic()
    with Workers(tmp_path, path, postgres, mlflow_server, 3) as w:
        killed = kill_mid_point(w, postgres, study, c)
        parent = check_grid(w, postgres, study, c, killed, baseline[1])
        assert PASSWORD not in w.output()
    print(f"postgresql: 3 workers, one killed, 4 points + summary in {time.monotonic() - t0:.1f}s")
    params = c.get_run(parent).data.params
    assert params["storage"].startswith("postgresql://rnn:***@127.0.0.1")
    assert PASSWORD not in str(params)


def test_resume_a_local_run_through_a_storage(baseline, monkeypatch, capsys) -> None:
    """``--storage --resume`` continues the latest parent (here the ``--jobs 1`` run): the
    points FINISHED there are adopted, not trained again."""
    folder, want = baseline
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(folder)
    before, _ = runs(MlflowClient(uri))
    argv = ["experiment", str(folder / "gridq.yaml"), "--storage", str(folder / "g.journal"),
            "--resume", "--no-progress", "--no-report"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already finished: run") == 4 and "step 20" not in out
    parents, kids = runs(MlflowClient(uri))
    assert [p.info.run_id for p in parents] == [before[0].info.run_id]
    assert len(kids) == 4 and metrics_by_hash(kids) == want


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("bogus://host/db", "unsupported URL scheme 'bogus'"),
        ("postgresql://rnn:pw-9931@127.0.0.1:{port}/optuna", "rnn:***@127.0.0.1"),
    ],
)
def test_bad_storage_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, storage, message):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    url = storage.format(port=free_port())  # nothing listens there
    assert main(["experiment", str(write_grid(tmp_path)), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnstudy: error: ") and message in err, err
    assert err.count("\n") == 1 and "pw-9931" not in err
    assert not (tmp_path / "mlflow.db").exists()  # nothing written to MLflow
