"""Trials whose worker died: mark them FAIL, queue a retry, close their MLflow runs.

Each trial records its worker (``host:pid:start-time``) in the user attribute ``worker``.

* On a heartbeat storage (PostgreSQL), a trial whose heartbeat is older than the grace period
  is failed by Optuna and handed to ``OnStale``: a WAITING copy with the same parameters is
  queued (``RetryHeartbeatStaleTrialCallback``, system attribute ``failed_trial``) and its
  MLflow child is tagged ``optuna_state=FAIL``, ``outcome=failed``.
* On the local journal (no heartbeat), a RUNNING trial whose worker process on this host is
  gone (killed, crashed, machine rebooted) is handled the same way when a sweep starts or
  between trials (``reap_dead_local``).
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from rnnstudy import tracking

log = logging.getLogger("rnnstudy")
MAX_RETRY = 3


def _start_time(pid: int) -> str:
    """The process start time in clock ticks since boot ("" where /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else ""


def worker_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _alive_here(worker: str) -> bool | None:
    """True/False for a worker on this host; None for another host (cannot tell)."""
    try:
        host, pid_s, start = worker.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie: dead, not yet reaped
    except OSError:
        pass
    now = _start_time(pid)
    return not (start and now and start != now)  # a new process that reused the pid


def retry_history(trial: FrozenTrial) -> list[int]:
    return list(trial.system_attrs.get("retry_history", []))


def retried_from(trial: FrozenTrial) -> int | None:
    return trial.system_attrs.get("failed_trial")


class OnStale:
    """Optuna's stale-trial callback: queue a retry, then close the trial's MLflow runs."""

    def __init__(self, max_retry: int = MAX_RETRY) -> None:
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: Study, trial: FrozenTrial, why: str = "heartbeat stale") -> None:
        self.retry(study, trial)
        log.warning("trial %d: worker lost (%s); FAIL, queued for retry", trial.number, why)
        close_runs(trial, f"worker lost ({why}): {trial.user_attrs.get('worker', '?')}")


def close_runs(trial: FrozenTrial, reason: str) -> None:
    """Tag the dead worker's child run FAIL, and end its parent run if still open."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    parent = trial.user_attrs.get("mlflow_parent_id")
    if not run_id and not parent:
        return
    try:
        c = tracking.client()
        if run_id:
            tags = {"optuna_state": "FAIL", "outcome": "failed", "error": reason}
            tracking.set_tags(c, run_id, tags)
            c.set_terminated(run_id, "FAILED")
        if parent and c.get_run(parent).info.status == "RUNNING":
            tracking.set_tags(c, parent, {"outcome": "worker_lost"})
            c.set_terminated(parent, "KILLED")
    except Exception as err:  # MLflow down: the study itself is already consistent
        log.warning("trial %d: could not update MLflow: %s", trial.number, err)


def reap_dead_local(study: Study, on_stale: OnStale) -> int:
    """FAIL (and retry) RUNNING trials whose worker process on this host is gone."""
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _alive_here(str(t.user_attrs.get("worker", ""))) is not False:
            continue
        try:
            if not study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another worker got there first
        on_stale(study, study._storage.get_trial(t._trial_id), "worker process gone")
        n += 1
    return n
