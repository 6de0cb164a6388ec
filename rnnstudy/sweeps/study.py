"""The worker loop: claim a trial under the budget lock, run it, tell Optuna, tag MLflow.

``n_trials`` is the size of the whole study, not of one invocation: a trial counts once it is
COMPLETE, PRUNED or FAIL (a FAIL that was queued for retry does not count, its copy does).
Re-running a sweep after Ctrl-C or a crash therefore continues where it stopped, and N workers
on several machines together run exactly ``n_trials`` trials.

A worker takes a trial when the study has a WAITING one (a retry) or fewer than ``n_trials``
trials claimed (finished + running + waiting). Dead workers' trials are found by the heartbeat
(RDB storage) or, on the local journal, by the worker's process being gone (``recovery``). With a heartbeat storage it then waits while
other rnnstudy workers' trials are still running, since a dead worker's trial comes back as
a WAITING retry after the grace period; the last worker standing runs it.

Ctrl-C (or SIGTERM) during a trial marks it FAIL and queues a retry copy, so the next run of
the same command trains it again with the same parameters.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from rnnstudy import tracking
from rnnstudy.sweeps.objective import TrialOutcome, run_trial, tag_child
from rnnstudy.sweeps.plan import SweepPlan
from rnnstudy.sweeps.recovery import OnStale, reap_dead_local, retry_history
from rnnstudy.sweeps.storage import Heartbeat, StudyStorage, fail_stale

log = logging.getLogger("rnnstudy")


@dataclass
class Claims:
    finished: int = 0
    running: int = 0  # RUNNING trials started by an rnnstudy worker
    waiting: int = 0
    other_running: int = 0  # RUNNING trials of unknown origin

    @property
    def claimed(self) -> int:
        return self.finished + self.running + self.waiting + self.other_running


def claims(study: optuna.Study) -> Claims:
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in retry_history(t)}
    c = Claims()
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            c.finished += 1
        elif t.state == TrialState.FAIL and t.number not in retried:
            c.finished += 1
        elif t.state == TrialState.WAITING:
            c.waiting += 1
        elif t.state == TrialState.RUNNING:
            if "worker" in t.user_attrs:
                c.running += 1
            else:
                c.other_running += 1
    return c


@dataclass
class WorkerReport:
    ran: list[tuple[int, TrialOutcome]] = field(default_factory=list)
    interrupted: bool = False


Printer = Callable[[str], None]


def run_worker(
    plan: SweepPlan,
    study: optuna.Study,
    store: StudyStorage,
    parent_id: str,
    *,
    progress: bool = False,
    echo: Printer = print,
    report: WorkerReport | None = None,
) -> WorkerReport:
    on_stale = OnStale()
    report = report if report is not None else WorkerReport()
    n = plan.spec.n_trials
    t0 = time.monotonic()
    while True:
        with store.lock():
            if store.heartbeat:
                fail_stale(study)
            else:
                reap_dead_local(study, on_stale)
            c = claims(study)
            timed_out = plan.spec.timeout is not None and time.monotonic() - t0 > plan.spec.timeout
            trial = None
            if not timed_out and (c.waiting > 0 or c.claimed < n):
                trial = study.ask()
        if trial is None:
            if not timed_out and store.heartbeat and c.running > 0:
                time.sleep(store.heartbeat)  # a dead worker's trial may come back for retry
                continue
            if timed_out:
                echo(f"timeout ({plan.spec.timeout:g}s): no new trials")
            return report
        frozen = store.storage.get_trial(trial._trial_id)  # noqa: SLF001 (no public trial id)
        retry = frozen.system_attrs.get("failed_trial")
        echo(
            f"[trial {trial.number}] {c.finished}/{n} finished"
            + (f" (retry of trial {retry})" if retry is not None else "")
        )
        try:
            with Heartbeat(store.storage, trial._trial_id, store.heartbeat):  # noqa: SLF001
                out = run_trial(plan, trial, frozen, parent_id, progress)
        except (KeyboardInterrupt, SystemExit) as err:
            # Lightning turns Ctrl-C inside fit into sys.exit(1): both mean "interrupted"
            _interrupted(study, trial, on_stale)
            report.interrupted = True
            raise KeyboardInterrupt from err
        with contextlib.suppress(UpdateFinishedTrialError):
            if out.note:
                key = "fail_reason" if out.state == TrialState.FAIL else "note"
                trial.set_user_attr(key, out.note)
            if out.outcome:
                trial.set_user_attr("outcome", out.outcome)
        value_or_none = out.value if out.state == TrialState.COMPLETE else None
        state = None if out.state == TrialState.COMPLETE else out.state
        done = study.tell(trial, value_or_none, state=state, skip_if_finished=True)
        if done.state == TrialState.FAIL and out.state != TrialState.FAIL:
            # our heartbeat went stale (a stalled machine): another worker failed the trial
            # and queued its retry, which counts instead; this result is dropped
            out.note = "marked stale by another worker; retried there"
        tag_child(done, out)
        report.ran.append((trial.number, out))
        value = f" {plan.spec.metric}={done.value:.4g}" if done.value is not None else ""
        note = f" ({out.note})" if out.note and done.state != TrialState.COMPLETE else ""
        echo(f"[trial {trial.number}] {done.state.name} {out.outcome}{value}{note}")


def _interrupted(study: optuna.Study, trial: optuna.trial.Trial, on_stale: OnStale) -> None:
    """Ctrl-C mid-trial: FAIL it and queue a retry so the next run trains it again."""
    try:
        done = study.tell(trial, state=TrialState.FAIL)
        on_stale.retry(study, done)
        run_id = done.user_attrs.get("mlflow_run_id")
        if run_id:
            tags = {"optuna_state": "FAIL", "optuna_note": "interrupted; queued for retry"}
            tracking.set_tags(tracking.client(), run_id, tags)
    except Exception as err:  # the storage may be what failed; the next run reaps the trial
        log.warning("trial %d: could not record the interruption: %s", trial.number, err)
