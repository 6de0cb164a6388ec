"""The grid queue's failure paths (issue 25 review), driven with fake hooks: no training.

    .venv/bin/pytest -q tests/test_grid_storage_queue.py        (well under a minute)

Each test runs ``grid_queue.join`` / ``work`` on a journal file (or an SQLite-backed Optuna RDB
storage for the heartbeat) and an SQLite MLflow store; a "point" is a child run created and
FINISHED at once, the "summary" sets the parent FINISHED.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from rnnstudy import grid_command
from rnnstudy import grid_queue as gq
from rnnstudy.cli import main
from rnnstudy.config import ConfigError
from rnnstudy.parallel import PointDone
from rnnstudy.sweeps.storage import open_storage

HASHES = ["h0", "h1"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow") / "m.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates the tables once
    return path


class Fake:
    """An MLflow store, a parent-making, point-running and summarising set of hooks."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        monkeypatch.chdir(folder)
        self.c = MlflowClient()
        self.exp = self.c.create_experiment(folder.name)  # one store for the module: faster
        self.points: list[int] = []
        self.summaries = 0
        self.point_hook = self.finish
        self.summary_hook = self.close_parent

    def new_parent(self) -> str:
        return self.c.create_run(self.exp).info.run_id

    def finish(self, i: int, parent: str, again: str | None) -> PointDone:
        tags = {"mlflow.parentRunId": parent, "config_hash": HASHES[i]}
        r = self.c.create_run(self.exp, tags=tags)
        self.c.set_terminated(r.info.run_id, "FINISHED")
        return PointDone(f"p{i}", "finished", 0.0, r.info.run_id)

    def close_parent(self, parent: str) -> None:
        self.c.set_terminated(parent, "FINISHED")

    def hooks(self) -> gq.Hooks:
        def run_point(i: int, parent: str, again: str | None) -> PointDone:
            self.points.append(i)
            return self.point_hook(i, parent, again)

        def summarise(parent: str) -> None:
            self.summaries += 1
            self.summary_hook(parent)

        return gq.Hooks(self.new_parent, run_point, summarise, lambda s: None)

    def grid(self, resume: bool = False, parent: str | None = None) -> gq.Grid:
        wanted = {"parent": parent} if parent else {}  # --resume-from
        return gq.Grid("s", self.exp, HASHES, ["p0", "p1"], resume, 0.05, **wanted)


def start(fake: Fake, url: str = "g.journal", grid: gq.Grid | None = None, **kw):
    """(study, store, grid, parent): the grid opened and joined, as a worker's command does."""
    on_stale = gq.GridOnStale()
    store = open_storage(url, "s", heartbeat=1, grace=2, on_stale=on_stale, **kw)
    grid = grid or fake.grid()
    study = gq.open_study(store, grid)
    parent, _ = gq.join(study, store, grid, fake.hooks())
    return study, store, grid, parent


def work(fake: Fake, study, store, grid, parent) -> gq.WorkerLog:
    return gq.work(study, store, grid, fake.hooks(), parent, gq.GridOnStale())


def work_in_thread(fake: Fake, study, store, grid, parent, limit: float = 20.0) -> None:
    t = threading.Thread(target=work, args=(fake, study, store, grid, parent), daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), [(x.number, x.state.name) for x in study.get_trials()]


def states(study) -> list[tuple[str, str]]:
    return [(gq.kind(t), t.state.name) for t in study.get_trials()]


# ---------------------------------------------------------------- 1. orphaned RUNNING trials


def test_trial_orphaned_right_after_ask_on_a_journal_is_retried(tmp_path, monkeypatch, db):
    """A worker killed between ``ask()`` and writing its id: no worker, no beat; failed and
    retried once ``--grace`` has passed (it hung the grid forever)."""
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    study.ask()  # ... and the worker died here
    work_in_thread(fake, study, store, grid, parent)
    assert sorted(fake.points) == [0, 1] and fake.summaries == 1
    assert states(study) == [("point", "FAIL"), ("point", "COMPLETE"), ("point", "COMPLETE"),
                             ("summary", "COMPLETE")]  # fmt: skip


def test_trial_without_heartbeat_on_rdb_is_retried(tmp_path, monkeypatch, db):
    """On an RDB storage a trial that never recorded a heartbeat (its worker died before its
    first beat, on another host) is failed after the grace period; Optuna never fails it."""
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake, f"sqlite:///{tmp_path / 'o.db'}")
    t = study.ask()
    t.set_user_attr("worker", "otherhost:1:1")
    work_in_thread(fake, study, store, grid, parent)
    assert sorted(fake.points) == [0, 1] and fake.summaries == 1
    assert states(study)[0] == ("point", "FAIL") and states(study)[-1] == ("summary", "COMPLETE")


def test_interrupt_while_taking_a_point_queues_it_again(tmp_path, monkeypatch, db):
    """Ctrl-C during the MLflow look that follows ``ask()`` (was: outside the handling, the
    trial stayed RUNNING): the trial is FAIL and a retry is WAITING; the next command runs it."""
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    real = gq.finished_by_hash

    def interrupted(*a):
        monkeypatch.setattr(gq, "finished_by_hash", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(gq, "finished_by_hash", interrupted)
    with pytest.raises(KeyboardInterrupt):
        work(fake, study, store, grid, parent)
    assert states(study) == [("point", "FAIL"), ("point", "WAITING"), ("point", "WAITING")]
    work(fake, study, store, grid, parent)
    assert sorted(fake.points) == [0, 1] and fake.summaries == 1


# ---------------------------------------------------------------- 2. the summary


def test_failed_summary_fails_the_command_once_and_the_next_one_redoes_it(
    tmp_path, monkeypatch, db
):
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)

    def broken(parent: str) -> None:
        raise RuntimeError("report build failed")

    fake.summary_hook = broken
    with pytest.raises(gq.SummaryFailed, match="report build failed"):
        work(fake, study, store, grid, parent)
    assert fake.summaries == 1  # not tried again and again within the command
    assert not gq.state_of(study.get_trials()).done
    assert fake.c.get_run(parent).info.status == "RUNNING"
    # a second worker of the same command sees the failure: it fails too, without a retry
    with pytest.raises(gq.SummaryFailed, match="report build failed"):
        gq.work(study, store, grid, fake.hooks(), parent, gq.GridOnStale())  # started before
    fake.summary_hook = fake.close_parent
    study, store, grid, parent = start(fake)  # the next command
    log = work(fake, study, store, grid, parent)
    assert log.summarised and fake.summaries == 3 and fake.points == [0, 1]
    assert fake.c.get_run(parent).info.status == "FINISHED"
    assert gq.state_of(study.get_trials()).done


def test_done_grid_whose_parent_is_not_finished_is_summarised_again(tmp_path, monkeypatch, db):
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    work(fake, study, store, grid, parent)
    fake.c.set_terminated(parent, "KILLED")
    _, done = gq.join(study, store, grid, fake.hooks())
    assert not done
    work(fake, study, store, grid, parent)
    assert fake.summaries == 2 and fake.points == [0, 1]
    assert fake.c.get_run(parent).info.status == "FINISHED"


# ---------------------------------------------------------------- 3. --resume-from


def test_resume_from_another_parent_changes_nothing(tmp_path, monkeypatch, db):
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    work(fake, study, store, grid, parent)
    fake.c.set_terminated(parent, "KILLED")  # would be re-opened by a join
    other = fake.new_parent()
    before = states(study)
    with pytest.raises(ConfigError, match=f"belongs to parent run {parent}"):
        gq.join(study, store, fake.grid(resume=True, parent=other), fake.hooks())
    assert states(study) == before
    assert fake.c.get_run(parent).info.status == "KILLED"


# ---------------------------------------------------------------- 4. interrupts, failed points


def test_interrupts_queue_the_point_again_without_limit(tmp_path, monkeypatch, db):
    """Five Ctrl-C on one point (MAX_RETRY is 3): it is still run, and only then summarised."""
    fake = Fake(tmp_path, monkeypatch, db)
    stops = []

    def interrupt(i: int, parent: str, again: str | None) -> PointDone:
        if len(stops) < 5:
            stops.append(i)
            raise KeyboardInterrupt
        return fake.finish(i, parent, again)

    fake.point_hook = interrupt
    for _ in range(5):
        study, store, grid, parent = start(fake, grid=gq.Grid("s", fake.exp, ["h0"], ["p0"]))
        with pytest.raises(KeyboardInterrupt):
            work(fake, study, store, grid, parent)
        assert fake.summaries == 0
    study, store, grid, parent = start(fake, grid=gq.Grid("s", fake.exp, ["h0"], ["p0"]))
    work(fake, study, store, grid, parent)
    assert fake.summaries == 1 and len(fake.points) == 6
    assert states(study)[-2:] == [("point", "COMPLETE"), ("summary", "COMPLETE")]


def test_point_lost_without_retry_is_queued_before_the_summary(tmp_path, monkeypatch, db):
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    t = study.ask()  # e.g. retries exhausted by an older version, or the storage failed
    study.tell(t, state=TrialState.FAIL)
    work(fake, study, store, grid, parent)
    assert sorted(fake.points) == [0, 1] and fake.summaries == 1


def test_failed_point_is_not_retried_and_is_reported(tmp_path, monkeypatch, db):
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)

    def fails(i: int, parent: str, again: str | None) -> PointDone:
        if i == 0:
            return PointDone("p0", "failed", 0.0, error="ValueError('nan')")
        return fake.finish(i, parent, again)

    fake.point_hook = fails
    log = work(fake, study, store, grid, parent)
    assert fake.points == [0, 1] and fake.summaries == 1 and log.failed == ["p0"]


# ---------------------------------------------------------------- 5. a live worker's trial lost


def test_worker_whose_trial_was_failed_by_another_stops_training(tmp_path, monkeypatch, db):
    """Heartbeat stale but the worker alive (suspended): another worker failed its trial and
    queued a retry; the first one stops training at its next look instead of finishing."""
    fake = Fake(tmp_path, monkeypatch, db)
    study, store, grid, parent = start(fake)
    on_stale = gq.GridOnStale()
    took: list[float] = []

    def slow(i: int, parent: str, again: str | None) -> PointDone:
        if took:
            return fake.finish(i, parent, again)
        mine = study.get_trials(states=(TrialState.RUNNING,))[0]
        study._storage.set_trial_state_values(mine._trial_id, state=TrialState.FAIL)
        on_stale(study, study._storage.get_trial(mine._trial_id), "test: beats stopped")
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 20:
                time.sleep(0.05)
        finally:
            took.append(time.monotonic() - t0)
        return fake.finish(i, parent, again)

    fake.point_hook = slow
    assert threading.current_thread() is threading.main_thread()
    work(fake, study, store, grid, parent)
    assert took[0] < 5, took  # stopped at the watch's next look (every second here)
    assert sorted(fake.points) == [0, 0, 1] and fake.summaries == 1
    assert states(study)[0] == ("point", "FAIL")
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


# ---------------------------------------------------------------- 6, 13. bad input


GRID = """\
name: gq
base:
  task: {name: copy, A: 4, K: 3, T: 8}
  model: {hidden_size: 8}
  train: {max_steps: 10, batch_size: 4, val_every: 5, val_size: 8}
grid:
  seed: [0, 1]
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--storage", "/proc/nope/x.journal"], "--storage /proc/nope/x.journal"),
        (["--storage", "g.journal", "--study", "a/b"], "--study 'a/b'"),
        (["--storage", "g.journal", "--resume-from", "deadbeef"], "--resume-from: no run"),
        (["--study", "x"], "--study: only with --storage"),
        (["--heartbeat", "5", "--grace", "9"], "--heartbeat, --grace: only with --storage"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, monkeypatch, capsys, extra,
                                                          message):  # fmt: skip
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gq.yaml").write_text(GRID)
    assert main(["experiment", "gq.yaml", "--jobs", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnstudy: error: ") and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gq.yaml"]  # nothing written


# ---------------------------------------------------------------- 7, 8. helper workers


def test_helper_exit_codes_are_reported(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=sys.exit, args=(c,), name=f"w{c}") for c in (0, 3)]
    for p in procs:
        p.start()
    assert grid_command._join(procs) == ["w3 (exit code 3)"]


def test_helpers_are_stopped_when_the_main_worker_fails(monkeypatch):
    ctx = mp.get_context("spawn")
    helper = ctx.Process(target=time.sleep, args=(60,))
    helper.start()
    monkeypatch.setattr(grid_command, "_start_helpers", lambda n, args: [helper])

    def boom(*a):
        raise RuntimeError("MLflow down")

    monkeypatch.setattr(gq, "work", boom)
    args = argparse.Namespace(jobs=2, no_report=True)
    with pytest.raises(RuntimeError, match="MLflow down"):
        grid_command._work(args, None, None, None, None, "p", None, "0")
    assert not helper.is_alive()


def test_helpers_do_not_resume(monkeypatch):
    """A helper joins after the main worker: ``--resume`` there would re-queue points again."""
    seen: list[argparse.Namespace] = []

    def fake_command(a: argparse.Namespace) -> int:
        seen.append(a)
        return 0

    monkeypatch.setattr(grid_command, "grid_command", fake_command)
    monkeypatch.setattr(grid_command, "start_helper", lambda: None)  # no signals, no prctl
    args = argparse.Namespace(jobs=3, no_progress=False, resume=True, resume_from="abc")
    with pytest.raises(SystemExit) as end:
        grid_command._helper(args)
    assert end.value.code == 0
    assert (seen[0].jobs, seen[0].resume, seen[0].resume_from) == (1, False, None)
