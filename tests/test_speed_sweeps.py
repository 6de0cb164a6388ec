"""``rnnstudy sweep --jobs N`` (issue 16): N worker processes on the local journal run exactly
``n_trials`` together; the default is the cores there and 1 on a database storage; Ctrl-C and
a killed sweep stop every worker, as with one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from rnnstudy import tracking
from rnnstudy.cli import main
from rnnstudy.config import ConfigError
from rnnstudy.parallel import cores
from rnnstudy.sweeps.cli import resolve_jobs
from rnnstudy.sweeps.storage import StudyStorage
from tests.conftest_sweeps import PRUNING_SWEEP, sweep_dir, sweep_runs, write_sweep  # noqa: F401
from tests.helpers import start_sweep

SWEEP = {**PRUNING_SWEEP, "n_trials": 4, "pruner": "none"}


def load(name: str, folder: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(folder / "optuna" / f"{name}.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def pid_of(trial: optuna.trial.FrozenTrial) -> int:
    return int(trial.user_attrs["worker"].rsplit(":", 2)[1])


def test_jobs_default_is_the_cores_on_the_journal_and_one_on_a_database() -> None:
    journal = StudyStorage(None, "optuna/x.journal", None, lambda: None)  # type: ignore[arg-type]
    rdb = StudyStorage(None, "postgresql://h/db", 10, lambda: None)  # type: ignore[arg-type]
    assert resolve_jobs(None, journal) == cores() and resolve_jobs(None, rdb) == 1
    assert resolve_jobs(3, rdb) == 3
    with pytest.raises(ConfigError, match="--jobs"):
        resolve_jobs(0, journal)


def test_two_workers_run_exactly_the_budget(sweep_dir: Path) -> None:  # noqa: F811
    # (whether the helper, which imports torch first, gets a trial depends on the machine's
    # speed: the next test sees two workers train at once)
    path = write_sweep(sweep_dir, "two", SWEEP, train={"max_steps": 150})
    assert main(["sweep", str(path), "--no-progress", "--jobs", "2"]) == 0
    trials = load("two", sweep_dir).get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    parents, children = sweep_runs(tracking.client(), "two")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.metrics["sweep/trials_this_run"] == 4
    assert sorted(int(r.data.tags["optuna_trial_number"]) for r in children) == [0, 1, 2, 3]
    assert all(r.info.status == "FINISHED" for r in children)


def _start(path: Path, folder: Path) -> subprocess.Popen:
    return start_sweep(path, folder, jobs=2)


def _both_training(path: Path, folder: Path, proc: subprocess.Popen) -> list:
    """The two RUNNING trials once both have validated at least once."""
    journal = folder / "optuna" / f"{path.stem}.journal"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if journal.exists():
            trials = load(path.stem, folder).get_trials()
            busy = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
            if len(busy) == 2:
                return busy
    out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
    raise AssertionError(f"two trials never trained at once (exit {proc.poll()}):\n{out}")


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return True  # a zombie: it has exited
        time.sleep(0.1)
    return False


def test_ctrl_c_and_kill_stop_every_worker(sweep_dir: Path) -> None:  # noqa: F811
    path = write_sweep(sweep_dir, "stop", SWEEP, train={"max_steps": 5000, "val_every": 10})
    proc = _start(path, sweep_dir)
    try:
        busy = _both_training(path, sweep_dir, proc)
        os.kill(proc.pid, signal.SIGINT)  # the main process only, as the sweep tests do
        assert proc.wait(timeout=120) == 130
        trials = load("stop", sweep_dir).get_trials()
        for t in busy:  # each worker's trial: FAIL, and a WAITING copy with its parameters
            assert trials[t.number].state == TrialState.FAIL
            (copy,) = [u for u in trials if u.system_attrs.get("failed_trial") == t.number]
            assert copy.state == TrialState.WAITING and copy.params == t.params
        assert all(_gone(pid_of(t)) for t in busy)

        proc = _start(path, sweep_dir)  # resumes: the two retries first
        busy = _both_training(path, sweep_dir, proc)
        helper = [pid_of(t) for t in busy if pid_of(t) != proc.pid]
        assert len(helper) == 1
        proc.kill()
        proc.wait(timeout=30)
        assert _gone(helper[0])  # killed with the main process, not left training
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
