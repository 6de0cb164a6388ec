"""The grid study's state, and the workers' liveness: what ``rnnstudy.grid_queue`` decides on.

* ``state_of``: per point (``config_hash``) its **last** trial decides: COMPLETE is finished;
  FAIL with a recorded ``outcome`` (the run itself failed) is failed, for good; any other FAIL
  (a worker killed or interrupted whose retry was never queued) is *pending*: queued again
  before any summary. The grid is done only when nothing is WAITING, RUNNING or pending and the
  last summary trial is COMPLETE and newer than every point trial.
* ``claim``: under the study's lock, ``study.ask()`` and at once the trial's first beat and its
  worker id, before any MLflow call: a trial RUNNING without a beat was orphaned by a worker
  that died right after asking.
* ``Watch``: while a trial runs, a beat every ``interval`` seconds (PostgreSQL: Optuna's
  heartbeat row; journal: the trial's system attribute ``grid_beat``) and a look at the trial's
  state: once another worker has failed it (our beats stopped: suspended machine, database
  outage), the training in the main thread is stopped (``TrialLost``).
* ``reap``: under the lock, RUNNING trials whose worker is gone are failed and a WAITING copy
  is queued: PostgreSQL: Optuna's stale heartbeats, and trials with no heartbeat row at all
  started more than ``--grace`` seconds ago; journal: a worker process on this host that is
  gone (at once), or any trial (no worker id, another host, a live but stalled process) whose
  last beat is older than ``--grace``.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

from rnnstudy import tracking
from rnnstudy.resume import HASH_TAG, children
from rnnstudy.sweeps.recovery import OnStale, _alive_here, worker_id
from rnnstudy.sweeps.storage import StudyStorage, fail_stale, has_heartbeat

log = logging.getLogger("rnnstudy")
KIND = "grid_kind"  # trial user attribute: "point" | "summary"
PARENT = "mlflow_parent_id"  # study user attribute: the one parent run of the grid
GRID = "grid"  # study user attribute: the fingerprint of the grid's points
QUEUED = "queued"  # study user attribute: every point was enqueued once
BEAT = "grid_beat"  # trial system attribute on a journal: time.time() of the last beat
ACTIVE = (TrialState.WAITING, TrialState.RUNNING)


def kind(t: FrozenTrial) -> str:
    return str(t.user_attrs.get(KIND, ""))


@dataclass
class State:
    waiting: int = 0
    running: int = 0
    finished: set[str] = field(default_factory=set)  # hashes whose last trial is COMPLETE
    failed: dict[str, str] = field(default_factory=dict)  # hash -> label: the run failed
    pending: list[FrozenTrial] = field(default_factory=list)  # lost, no retry: queue again
    summary: FrozenTrial | None = None  # the last summary trial
    done: bool = False


def state_of(trials: list[FrozenTrial]) -> State:
    s = State()
    s.waiting = sum(t.state == TrialState.WAITING for t in trials)
    s.running = sum(t.state == TrialState.RUNNING for t in trials)
    last: dict[str, FrozenTrial] = {}
    for t in trials:
        if kind(t) == "point":
            h = str(t.user_attrs.get(HASH_TAG))
            if h not in last or t.number > last[h].number:
                last[h] = t
    for h, t in last.items():
        if t.state == TrialState.COMPLETE:
            s.finished.add(h)
        elif t.state == TrialState.FAIL and t.user_attrs.get("outcome"):
            s.failed[h] = str(t.user_attrs.get("point", h))
        elif t.state not in ACTIVE:
            s.pending.append(t)
    summaries = [t for t in trials if kind(t) == "summary"]
    s.summary = max(summaries, key=lambda t: t.number) if summaries else None
    newest_point = max((t.number for t in last.values()), default=-1)
    s.done = (
        s.summary is not None
        and s.summary.state == TrialState.COMPLETE
        and s.summary.number > newest_point
        and not (s.waiting or s.running or s.pending)
    )
    return s


# ---------------------------------------------------------------- taking a trial, beating


def claim(study: Study, store: StudyStorage) -> Trial:
    """The oldest WAITING trial, now RUNNING, beating and ours (call under the lock)."""
    trial = study.ask()
    beat(store, trial._trial_id)  # noqa: SLF001 (no public trial id)
    trial.set_user_attr("worker", worker_id())
    return trial


def beat(store: StudyStorage, trial_id: int) -> None:
    if store.heartbeat is not None:
        store.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    else:
        store.storage.set_trial_system_attr(trial_id, BEAT, time.time())


class TrialLost(BaseException):  # noqa: N818 (not an Exception: run_point must not catch it)
    """Raised in the main thread once another worker has failed this worker's trial."""


class Watch:
    """Beats for the trial and watches its state until closed; ``lost`` once it is no longer
    RUNNING. In the main thread the training is then stopped with ``TrialLost`` (a simulated
    SIGUSR1, handled only while the watch is open); elsewhere only ``lost`` is set."""

    def __init__(self, store: StudyStorage, trial_id: int) -> None:
        self.lost = False
        self._stop = threading.Event()
        self._old: object = None
        self._main = threading.current_thread() is threading.main_thread()
        self._store, self._id = store, trial_id
        self._thread = threading.Thread(target=self._loop, name=f"watch-{trial_id}", daemon=True)

    def __enter__(self) -> Watch:
        if self._main:
            self._old = signal.signal(signal.SIGUSR1, self._raise)
        self._thread.start()
        return self

    def _raise(self, signum: int, frame: object) -> None:  # noqa: ARG002
        raise TrialLost(f"grid trial id {self._id}: failed by another worker ({worker_id()})")

    def _loop(self) -> None:
        while not self._stop.wait(self._store.interval):
            with contextlib.suppress(Exception):  # a missed beat or look: again next time
                if self._store.storage.get_trial(self._id).state != TrialState.RUNNING:
                    self.lost = True
                    if self._main and not self._stop.is_set():
                        _thread.interrupt_main(signal.SIGUSR1)
                    return
                beat(self._store, self._id)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self._thread.join()
        finally:
            if self._main:
                signal.signal(signal.SIGUSR1, self._old)  # type: ignore[arg-type]


# ---------------------------------------------------------------- dead workers


def reap(study: Study, store: StudyStorage, on_stale: OnStale) -> int:
    """FAIL (and retry) the RUNNING trials whose worker is gone (module docstring)."""
    if store.heartbeat is not None:
        fail_stale(study)
    n, now = 0, time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = t.datetime_start.timestamp() if t.datetime_start else now
        if store.heartbeat is not None:
            why = "no heartbeat" if now - started > store.grace else ""
            if why and has_heartbeat(store.storage, t._trial_id):  # noqa: SLF001
                why = ""  # Optuna's fail_stale judges it
        else:
            last = max(started, float(t.system_attrs.get(BEAT, 0.0)))
            alive = _alive_here(str(t.user_attrs.get("worker", "")))
            why = "worker process gone" if alive is False else ""
            why = why or (f"no beat for {now - last:.0f}s" if now - last > store.grace else "")
        if why and _fail(study, t):
            on_stale(study, study._storage.get_trial(t._trial_id), why)  # noqa: SLF001
            n += 1
    return n


def _fail(study: Study, t: FrozenTrial) -> bool:
    try:
        storage = study._storage  # noqa: SLF001
        return storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)  # noqa: SLF001
    except UpdateFinishedTrialError:
        return False  # another worker got there first


def requeue(
    study: Study, trials: list[FrozenTrial], retry: Callable[[Study, FrozenTrial], None]
) -> None:
    """Queue again the points whose last trial FAILed without a retry (``State.pending``)."""
    for t in trials:
        retry(study, t)


# ---------------------------------------------------------------- recording a lost trial


class GridOnStale(OnStale):
    """A dead or interrupted worker's trial: queue its retry, without limit (the point is not
    at fault); mark its MLflow run KILLED (not the parent, which the other workers share)."""

    def __init__(self) -> None:
        super().__init__(max_retry=None)  # type: ignore[arg-type]

    def __call__(self, study: Study, trial: FrozenTrial, why: str = "heartbeat stale") -> None:
        self.retry(study, trial)
        who = trial.user_attrs.get("worker", "?")
        log.warning("grid trial %d: worker %s lost (%s); queued again", trial.number, who, why)
        h, parent = trial.user_attrs.get(HASH_TAG), study.user_attrs.get(PARENT)
        if kind(trial) == "point" and h and parent:
            with contextlib.suppress(Exception):  # MLflow down: the study is consistent
                kill_runs(parent, h, f"worker lost ({why}): {who}")


def kill_runs(parent: str, config_hash: str, reason: str) -> None:
    """Mark the parent's RUNNING children of this point KILLED (``outcome=interrupted``)."""
    c = tracking.client()
    exp_id = tracking.get_run(c, parent).info.experiment_id
    for r in children(c, exp_id, parent):
        if r.data.tags.get(HASH_TAG) == config_hash and r.info.status == "RUNNING":
            tracking.set_tags(c, r.info.run_id, {"outcome": "interrupted", "error": reason})
            c.set_terminated(r.info.run_id, "KILLED")


def mark_lost(echo: Callable[[str], None], trial: Trial, parent: str) -> None:
    """Another worker failed our trial (our beats had stopped) and queued its retry: our run
    of it (FAILED by the runner with the ``TrialLost`` error) is marked KILLED, superseded."""
    echo(f"grid trial {trial.number}: failed by another worker (beats stopped); left")
    with contextlib.suppress(Exception):
        c = tracking.client()
        exp_id = tracking.get_run(c, parent).info.experiment_id
        for r in children(c, exp_id, parent):
            if "TrialLost" in r.data.tags.get("error", "") and r.info.status == "FAILED":
                if f"trial id {trial._trial_id}:" in r.data.tags["error"]:  # noqa: SLF001
                    tracking.set_tags(c, r.info.run_id, {"outcome": "superseded"})
                    c.set_terminated(r.info.run_id, "KILLED")


def interrupted(study: Study, trial: Trial, on_stale: OnStale) -> None:
    """Ctrl-C mid-trial: FAIL it and queue a retry; the next worker runs it again."""
    try:
        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        if frozen.state == TrialState.FAIL and not retried(study, frozen):
            on_stale.retry(study, frozen)
    except Exception as err:  # the storage may be what failed; the next worker re-queues it
        log.warning("grid trial %d: could not record the interruption: %s", trial.number, err)


def failed(study: Study, trial: Trial, err: BaseException, on_stale: OnStale | None) -> None:
    """FAIL with ``fail_reason``; a point (not at fault: MLflow or the storage failed) is
    queued again."""
    try:
        with contextlib.suppress(UpdateFinishedTrialError):
            trial.set_user_attr("fail_reason", repr(err)[:500])
        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        if on_stale is not None and frozen.state == TrialState.FAIL and not retried(study, frozen):
            on_stale.retry(study, frozen)
    except Exception as e:
        log.warning("grid trial %d: could not record the failure: %s", trial.number, e)


def retried(study: Study, frozen: FrozenTrial) -> bool:
    """Whether another worker already queued this trial's retry (it failed it first)."""
    return any(
        t.system_attrs.get("retry_history", [None])[-1] == frozen.number
        for t in study.get_trials(deepcopy=False)
    )
