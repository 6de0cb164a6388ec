"""An experiment grid shared by many workers through an Optuna storage, each point run once.

    rnnstudy experiment experiments/clip_ablation.yaml --storage optuna/grid.journal   # N times,
                                                             # one machine (or --jobs N)
    PGPASSWORD=... rnnstudy experiment experiments/clip_ablation.yaml \\
        --storage postgresql://rnn@db-host/optuna         # on every machine (docs/distributed.md)

The grid is one Optuna study, named after the experiment, its profile and its points
(``<name>-<profile>-grid-<fingerprint>``, ``--study`` to choose another). Every worker of the
same command does, under the storage's study lock (``rnnstudy.sweeps.storage``):

* **join**: the first one creates the MLflow parent run (``new_parent``) and records its id as
  the study's user attribute ``mlflow_parent_id``, then enqueues every point as a WAITING trial
  (user attributes ``grid_kind=point``, ``config_hash``, ``point``); later ones read the id. The
  lock makes this race-free: one parent, each point enqueued once.
* **take**: ``study.ask()`` moves the oldest WAITING trial to RUNNING (atomic in Optuna's
  storage, and under the lock); the worker writes its id (``host:pid:start``) on it. A point
  already FINISHED in MLflow under the parent (``--resume``, or a worker that died between
  finishing the run and telling Optuna) is marked COMPLETE without training again; an
  interrupted run of the point with a checkpoint is continued (``rnnstudy.checkpoint``).
* **recover**: on PostgreSQL a point whose worker stopped beating for ``--grace`` seconds is
  failed and a WAITING copy queued (``RetryHeartbeatStaleTrialCallback``); on a journal file the
  same happens when the worker's process on this host is gone (``rnnstudy.sweeps.recovery``).
  The dead run in MLflow is marked KILLED (``outcome=interrupted``). A worker with nothing to
  take waits while others run, so a retry always finds someone.
* **summary**: the worker that first sees no WAITING and no RUNNING trial enqueues and takes
  one ``grid_kind=summary`` trial (under the lock: exactly one), which runs the study summary and
  the report on the parent; it has a heartbeat and is retried like a point. The grid is done
  when a finished summary trial is newer than every point trial; then every worker ends.

Run the same command again: an unfinished grid is continued; a finished one is left as it is
(``--resume`` re-queues the points that have no FINISHED run, then summarises again).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

from rnnstudy import tracking
from rnnstudy.config import ConfigError
from rnnstudy.parallel import PointDone
from rnnstudy.resume import HASH_TAG, children, finished_by_hash, resumable
from rnnstudy.sweeps.recovery import OnStale, reap_dead_local, worker_id
from rnnstudy.sweeps.storage import Heartbeat, StudyStorage, fail_stale

log = logging.getLogger("rnnstudy")
KIND = "grid_kind"  # trial user attribute: "point" | "summary"
PARENT = "mlflow_parent_id"  # study user attribute: the one parent run of the grid
GRID = "grid"  # study user attribute: the fingerprint of the grid's points
QUEUED = "queued"  # study user attribute: every point was enqueued once
DONE = (TrialState.COMPLETE, TrialState.FAIL)


def fingerprint(hashes: list[str]) -> str:
    """8 hex digits naming the set of points (their ``config_hash`` values)."""
    return hashlib.sha256(",".join(sorted(hashes)).encode()).hexdigest()[:8]


def study_name(experiment: str, profile: str, hashes: list[str]) -> str:
    return f"{experiment}-{profile}-grid-{fingerprint(hashes)}"


@dataclass
class Grid:
    """What every worker of one grid knows before joining."""

    study: str
    experiment_id: str  # MLflow
    hashes: list[str]  # config_hash of each point, in point order
    labels: list[str]
    resume: bool = False
    poll: float = 1.0  # seconds between looks while others run


@dataclass
class Hooks:
    """The experiment's side: create the parent, train one point, summarise."""

    new_parent: Callable[[], str]  # -> parent run id (new, or the one --resume names)
    run_point: Callable[[int, str, str | None], PointDone]  # (index, parent, resume run)
    summarise: Callable[[str], None]  # (parent): summary tables, parent FINISHED, report
    echo: Callable[[str], None] = print


@dataclass
class WorkerLog:
    points: list[PointDone] = field(default_factory=list)
    summarised: bool = False


class GridOnStale(OnStale):
    """A dead worker's trial: queue its retry; mark its MLflow run KILLED (not the parent, which
    the other workers share)."""

    def __call__(self, study: Study, trial: FrozenTrial, why: str = "heartbeat stale") -> None:
        self.retry(study, trial)
        who = trial.user_attrs.get("worker", "?")
        log.warning("grid trial %d: worker %s lost (%s); queued again", trial.number, who, why)
        h, parent = trial.user_attrs.get(HASH_TAG), study.user_attrs.get(PARENT)
        if trial.user_attrs.get(KIND) == "point" and h and parent:
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


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage")


# ---------------------------------------------------------------- state of the study


@dataclass
class State:
    waiting: int = 0
    running: int = 0
    finished: set[str] = field(default_factory=set)  # hashes with a COMPLETE point trial
    done: bool = False  # a finished summary newer than every point


def kind(t: FrozenTrial) -> str:
    return str(t.user_attrs.get(KIND, ""))


def state_of(trials: list[FrozenTrial]) -> State:
    s = State()
    s.waiting = sum(t.state == TrialState.WAITING for t in trials)
    s.running = sum(t.state == TrialState.RUNNING for t in trials)
    points = [t for t in trials if kind(t) == "point"]
    s.finished = {t.user_attrs[HASH_TAG] for t in points if t.state == TrialState.COMPLETE}
    last_point = max((t.number for t in points), default=-1)
    summaries = [t for t in trials if kind(t) == "summary"]
    last = max(summaries, key=lambda t: t.number) if summaries else None
    s.done = (
        last is not None
        and last.number > last_point
        and last.state in DONE
        and not s.waiting
        and not s.running
    )
    return s


# ---------------------------------------------------------------- join


def open_study(store: StudyStorage, grid: Grid) -> Study:
    """The grid's study (created by the first worker); refuses a study of another grid."""
    quiet_optuna()
    with store.lock():
        study = optuna.create_study(
            storage=store.storage, study_name=grid.study, load_if_exists=True
        )
        fp = study.user_attrs.get(GRID)
        if fp is None:
            study.set_user_attr(GRID, fingerprint(grid.hashes))
            study.set_user_attr("points", len(grid.hashes))
        elif fp != fingerprint(grid.hashes):
            raise ConfigError(
                f"study {grid.study!r} in this storage holds another grid; pick a new --study"
            )
    return study


def join(study: Study, store: StudyStorage, grid: Grid, hooks: Hooks) -> tuple[str, bool]:
    """(the grid's parent run id, whether the grid is already done), enqueueing the points if
    this worker is the first; ``--resume`` on a done grid re-queues its unfinished points."""
    with store.lock():
        parent = study.user_attrs.get(PARENT)
        if parent is None:
            parent = hooks.new_parent()
            study.set_user_attr(PARENT, parent)
        if not study.user_attrs.get(QUEUED):
            _enqueue(study, grid, range(len(grid.hashes)), have=_trial_hashes(study))
            study.set_user_attr(QUEUED, True)
            return parent, False
        done = state_of(study.get_trials(deepcopy=False)).done
        c = tracking.client()
        if not (done and grid.resume):
            if not done and tracking.get_run(c, parent).info.status in ("KILLED", "FAILED"):
                _reopen(c, parent)  # every worker had been interrupted: going on
            return parent, done
        finished = finished_by_hash(children(c, grid.experiment_id, parent))
        todo = [i for i, h in enumerate(grid.hashes) if h not in finished]
        _enqueue(study, grid, todo, have=set())
        if todo:
            hooks.echo(f"--resume: {len(todo)} unfinished point(s) queued again")
            _reopen(c, parent)
        return parent, not todo


def _reopen(c, parent: str) -> None:
    c.update_run(parent, status="RUNNING")
    tracking.set_tags(c, parent, {"outcome": "running", "resumed": "true"})


def _trial_hashes(study: Study) -> set[str]:
    return {str(t.user_attrs.get(HASH_TAG)) for t in study.get_trials(deepcopy=False)}


def _enqueue(study: Study, grid: Grid, indices, have: set[str]) -> None:
    for i in indices:
        if grid.hashes[i] not in have:
            attrs = {KIND: "point", HASH_TAG: grid.hashes[i], "point": grid.labels[i]}
            study.enqueue_trial({}, user_attrs=attrs)


# ---------------------------------------------------------------- the worker loop


def work(
    study: Study, store: StudyStorage, grid: Grid, hooks: Hooks, parent: str, on_stale: OnStale
) -> WorkerLog:
    """Take points (then the summary) until the grid is done."""
    out = WorkerLog()
    while True:
        with store.lock():
            _recover(study, store, on_stale)
            st = state_of(study.get_trials(deepcopy=False))
            if st.done:
                return out
            trial = None
            if st.waiting:
                trial = _take(study, grid, parent, hooks)
            elif not st.running:
                study.enqueue_trial({}, user_attrs={KIND: "summary"})
                trial = _take(study, grid, parent, hooks)
        if trial is None:
            time.sleep(grid.poll)
            continue
        _run(study, store, grid, hooks, parent, trial, on_stale, out)


def _recover(study: Study, store: StudyStorage, on_stale: OnStale) -> None:
    if store.heartbeat:
        fail_stale(study)
    else:
        reap_dead_local(study, on_stale)


def _take(study: Study, grid: Grid, parent: str, hooks: Hooks) -> Trial | None:
    """The oldest WAITING trial, now RUNNING and ours; None when it was a point already
    FINISHED in MLflow (marked COMPLETE here, not trained again)."""
    trial = study.ask()
    trial.set_user_attr("worker", worker_id())
    h = trial.user_attrs.get(HASH_TAG)
    if trial.user_attrs.get(KIND) != "point" or h not in grid.hashes:
        return trial
    c = tracking.client()
    run = finished_by_hash(children(c, grid.experiment_id, parent)).get(h)
    if run is None:
        return trial
    trial.set_user_attr("mlflow_run_id", run.info.run_id)
    trial.set_user_attr("note", "already FINISHED in MLflow")
    study.tell(trial, 0.0)
    hooks.echo(f"[{trial.user_attrs.get('point')}] already finished: run {run.info.run_id}")
    return None


def _run(
    study: Study,
    store: StudyStorage,
    grid: Grid,
    hooks: Hooks,
    parent: str,
    trial: Trial,
    on_stale: OnStale,
    out: WorkerLog,
) -> None:
    frozen = study._storage.get_trial(trial._trial_id)  # noqa: SLF001 (no public trial id)
    try:
        with Heartbeat(store.storage, trial._trial_id, store.heartbeat):  # noqa: SLF001
            if kind(frozen) == "summary":
                hooks.summarise(parent)
                out.summarised = True
                done = None
            else:
                done = _point(grid, hooks, parent, frozen)
    except (KeyboardInterrupt, SystemExit) as err:  # Ctrl-C, SIGTERM (Lightning: SystemExit)
        _interrupted(study, trial, on_stale)
        raise KeyboardInterrupt from err
    except BaseException as err:  # the summary failed: recorded, not retried
        with contextlib.suppress(Exception):
            trial.set_user_attr("fail_reason", repr(err)[:500])
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    if done is None:
        study.tell(trial, 0.0, skip_if_finished=True)
        return
    out.points.append(done)
    with store.lock():
        _tell_point(study, trial, done)
    finished = len(state_of(study.get_trials(deepcopy=False)).finished)
    note = f" {done.error}" if done.error else ""
    hooks.echo(
        f"[{finished}/{len(grid.hashes)}] {done.label} -> {done.outcome}"
        f" ({done.seconds:.1f}s){note}"
    )


def _point(grid: Grid, hooks: Hooks, parent: str, trial: FrozenTrial) -> PointDone:
    """Train the point, continuing an interrupted run of it that saved a checkpoint."""
    h = trial.user_attrs[HASH_TAG]
    c = tracking.client()
    again = resumable(children(c, grid.experiment_id, parent)).get(h)
    retry = trial.system_attrs.get("failed_trial")
    if retry is not None:
        hooks.echo(f"[{trial.user_attrs.get('point')}] retry of trial {retry}")
    return hooks.run_point(grid.hashes.index(h), parent, again.info.run_id if again else None)


def _tell_point(study: Study, trial: Trial, done: PointDone) -> None:
    """COMPLETE (FAIL for a run that raised); a trial another worker failed meanwhile (our
    heartbeat went stale) keeps its retry, and our run is KILLED unless the retry adopted it."""
    with contextlib.suppress(UpdateFinishedTrialError):
        trial.set_user_attr("outcome", done.outcome)
        if done.run_id:
            trial.set_user_attr("mlflow_run_id", done.run_id)
        if done.error:
            trial.set_user_attr("fail_reason", done.error)
    failed = done.outcome == "failed"
    frozen = study.tell(
        trial, None if failed else 0.0, state=TrialState.FAIL if failed else None,
        skip_if_finished=True,
    )  # fmt: skip
    if frozen.state != TrialState.FAIL or failed or not done.run_id:
        return
    adopted = any(
        t.user_attrs.get("mlflow_run_id") == done.run_id and t.number != frozen.number
        for t in study.get_trials(deepcopy=False)
    )
    if not adopted:
        c = tracking.client()
        tracking.set_tags(c, done.run_id, {"outcome": "superseded"})
        c.set_terminated(done.run_id, "KILLED")


def _interrupted(study: Study, trial: Trial, on_stale: OnStale) -> None:
    """Ctrl-C mid-trial: FAIL it and queue a retry; the next worker runs it again."""
    try:
        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        on_stale.retry(study, frozen)
    except Exception as err:  # the storage may be what failed; the next worker reaps it
        log.warning("grid trial %d: could not record the interruption: %s", trial.number, err)
