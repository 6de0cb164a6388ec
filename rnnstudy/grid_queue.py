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
  storage, and under the lock); the worker records its first beat and its id
  (``host:pid:start``) on it before anything else (``rnnstudy.grid_state``). A point
  already FINISHED in MLflow under the parent (``--resume``, or a worker that died between
  finishing the run and telling Optuna) is marked COMPLETE without training again; an
  interrupted run of the point with a checkpoint is continued (``rnnstudy.checkpoint``).
* **recover**: a trial whose worker stopped beating for ``--grace`` seconds (or, on a journal
  file, whose process on this host is gone) is failed and a WAITING copy queued, without limit
  (``rnnstudy.grid_state.reap``); Ctrl-C / SIGTERM does the same at once. The dead run in
  MLflow is marked KILLED (``outcome=interrupted``). A worker with nothing to take waits while
  others run, so a retry always finds someone. A worker whose trial was failed by another
  (its beats stopped) stops training it.
* **summary**: the worker that first sees every point settled (its last trial COMPLETE, or
  FAILED with the run's recorded ``outcome``) and nothing WAITING or RUNNING enqueues and takes
  one ``grid_kind=summary`` trial (under the lock: exactly one), which runs the study summary and
  the report on the parent; it beats and is retried like a point. The grid is done when the
  last summary trial is COMPLETE and newer than every point trial; then every worker ends. A
  summary that raises is FAIL: this command ends with exit code 1 (``SummaryFailed``, every
  worker that was running); the next command tries it again.

Run the same command again: an unfinished grid is continued; a finished one is left as it is
(``--resume`` re-queues the points that have no FINISHED run, then summarises again; a parent
that is not FINISHED is summarised again).
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
from rnnstudy.grid_state import (
    GRID,
    KIND,
    PARENT,
    QUEUED,
    GridOnStale,
    State,
    TrialLost,
    Watch,
    claim,
    failed,
    interrupted,
    kind,
    mark_lost,
    reap,
    requeue,
    state_of,
)
from rnnstudy.parallel import PointDone
from rnnstudy.resume import HASH_TAG, children, finished_by_hash, resumable
from rnnstudy.sweeps.recovery import OnStale
from rnnstudy.sweeps.storage import StudyStorage

__all__ = ["GRID", "KIND", "PARENT", "QUEUED", "GridOnStale", "State", "kind", "state_of"]
log = logging.getLogger("rnnstudy")


class SummaryFailed(RuntimeError):
    """The grid's summary raised (here or in another worker of this command): exit code 1."""


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
    parent: str | None = None  # --resume-from: the parent run the study must belong to


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
    failed: list[str] = field(default_factory=list)  # labels of the grid's failed points


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage")


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
    this worker is the first; ``--resume`` on a done grid re-queues its unfinished points; a
    done grid whose parent is not FINISHED gets a new summary. ``grid.parent`` (--resume-from)
    that is not the study's parent: ``ConfigError``, nothing changed."""
    with store.lock():
        parent = study.user_attrs.get(PARENT)
        if grid.parent is not None and parent is not None and parent != grid.parent:
            raise ConfigError(f"--resume-from: study {grid.study!r} belongs to parent run {parent}")
        if parent is None:
            parent = hooks.new_parent()
            study.set_user_attr(PARENT, parent)
        if not study.user_attrs.get(QUEUED):
            _enqueue(study, grid, range(len(grid.hashes)), have=_trial_hashes(study))
            study.set_user_attr(QUEUED, True)
            return parent, False
        done = state_of(study.get_trials(deepcopy=False)).done
        c = tracking.client()
        status = tracking.get_run(c, parent).info.status
        if done and status != "FINISHED" and not grid.resume:
            study.enqueue_trial({}, user_attrs={KIND: "summary"})
            hooks.echo(f"parent run {parent} is {status}: summarising the grid again")
            _reopen(c, parent)
            return parent, False
        if not (done and grid.resume):
            if not done and status in ("KILLED", "FAILED"):
                _reopen(c, parent)  # every worker had been interrupted: going on
            return parent, done
        finished = finished_by_hash(children(c, grid.experiment_id, parent))
        todo = [i for i, h in enumerate(grid.hashes) if h not in finished]
        _enqueue(study, grid, todo, have=set())
        if todo:
            hooks.echo(f"--resume: {len(todo)} unfinished point(s) queued again")
        elif status != "FINISHED":
            study.enqueue_trial({}, user_attrs={KIND: "summary"})
        if todo or status != "FINISHED":
            _reopen(c, parent)
        return parent, not todo and status == "FINISHED"


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
    """Take points (then the summary) until the grid is done; ``SummaryFailed`` when a
    summary trial created since this worker started failed (bounded: no second try here)."""
    out = WorkerLog()
    first = len(study.get_trials(deepcopy=False))  # trials from here on are this command's
    while True:
        with store.lock():
            reap(study, store, on_stale)
            st = state_of(study.get_trials(deepcopy=False))
            if st.done:
                out.failed = sorted(st.failed.values())
                return out
            if not st.waiting and not st.running:
                _settle(study, st, first, hooks, on_stale)
            trial = claim(study, store) if st.waiting or not st.running else None
        if trial is None:
            time.sleep(grid.poll)
            continue
        _run(study, store, grid, hooks, parent, trial, on_stale, out)


def _settle(study: Study, st: State, first: int, hooks: Hooks, on_stale: OnStale) -> None:
    """Nothing WAITING or RUNNING: queue the lost points again, else the summary."""
    if st.pending:
        labels = ", ".join(str(t.user_attrs.get("point")) for t in st.pending)
        hooks.echo(f"{len(st.pending)} point(s) lost without a retry, queued again: {labels}")
        requeue(study, st.pending, on_stale.retry)
        return
    s = st.summary
    if s is not None and s.state == TrialState.FAIL and s.number >= first:
        why = s.user_attrs.get("fail_reason", "?")
        raise SummaryFailed(
            f"the grid's summary failed (trial {s.number}: {why}); run the command again"
        )
    study.enqueue_trial({}, user_attrs={KIND: "summary"})


def _adopt(grid: Grid, hooks: Hooks, parent: str, trial: FrozenTrial, live: Trial) -> bool:
    """A point already FINISHED in MLflow: COMPLETE, not trained again."""
    h = trial.user_attrs.get(HASH_TAG)
    if kind(trial) != "point" or h not in grid.hashes:
        return False
    run = finished_by_hash(children(tracking.client(), grid.experiment_id, parent)).get(h)
    if run is None:
        return False
    live.set_user_attr("mlflow_run_id", run.info.run_id)
    live.set_user_attr("note", "already FINISHED in MLflow")
    hooks.echo(f"[{trial.user_attrs.get('point')}] already finished: run {run.info.run_id}")
    return True


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
    tid = trial._trial_id  # noqa: SLF001 (no public trial id)
    summary = False
    watch = Watch(store, tid)
    try:
        with watch:
            frozen = study._storage.get_trial(tid)  # noqa: SLF001
            summary = kind(frozen) == "summary"
            if summary:
                hooks.summarise(parent)
                out.summarised = True
                done = None
            elif _adopt(grid, hooks, parent, frozen, trial):
                done = None
            else:
                done = _point(grid, hooks, parent, frozen)
    except TrialLost:
        mark_lost(hooks.echo, trial, parent)
        return
    except (KeyboardInterrupt, SystemExit) as err:  # Ctrl-C, SIGTERM (Lightning: SystemExit)
        if watch.lost and not isinstance(err, KeyboardInterrupt):
            mark_lost(hooks.echo, trial, parent)
            return
        interrupted(study, trial, on_stale)
        raise KeyboardInterrupt from err
    except Exception as err:  # the summary or MLflow failed: recorded; a point is retried
        failed(study, trial, err, None if summary else on_stale)
        if summary:
            raise SummaryFailed(f"the grid's summary failed: {err!r}"[:500]) from err
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
