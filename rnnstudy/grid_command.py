"""``rnnstudy experiment FILE --storage URL``: the grid shared by every worker of the command.

    rnnstudy experiment experiments/clip_ablation.yaml --storage optuna/clip.journal --jobs 3
    PGPASSWORD=... MLFLOW_TRACKING_URI=http://mlflow-host:5000 \\
      rnnstudy experiment experiments/clip_ablation.yaml --storage postgresql://rnn@db-host/optuna

The queue itself is ``rnnstudy.grid_queue``; this module connects it to the experiment: the
storage is opened as ``rnnstudy sweep`` opens it (``rnnstudy.sweeps.storage``: a bad URL or an
unreachable server is one line and exit code 2, before anything is written to MLflow), the
parent run is created as ``rnnstudy experiment`` creates it (plus the params and tags
``storage`` (masked) and ``optuna_study``), each point is trained by ``parallel.run_point`` and
the summary is ``commands.summarise_parent``.

``--jobs N`` runs N workers on this machine: this process and N - 1 helper processes (spawned,
killed with this process), each the same command with ``--jobs 1`` and without ``--resume``
(the main worker has joined the grid by then). A helper that ends with a non-zero exit code
makes the command's exit code 1. Default: the cores on a journal file, 1 with a database
storage (each machine runs its own command).

A summary that raises ends the command with one line on stderr and exit code 1
(``grid_queue.SummaryFailed``); the next command tries the summary again.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import sys
from typing import Any

import rnnstudy.mlflow_retry as mlflow_retry
from rnnstudy import grid_queue as gq
from rnnstudy import tracking
from rnnstudy.commands import check_points, find_parent, new_parent, point_tags, summarise_parent
from rnnstudy.config import ConfigError, parse_sets
from rnnstudy.experiment import ExperimentFile, Point, expand, load_experiment
from rnnstudy.helper_process import start_helper
from rnnstudy.parallel import PointDone, run_point
from rnnstudy.resume import children, reopen
from rnnstudy.sweeps.cli import resolve_jobs, sigterm_as_interrupt
from rnnstudy.sweeps.storage import StudyStorage, check_study_name, open_storage
from rnnstudy.tracking_names import sqlite_path


def grid_command(args: argparse.Namespace) -> int:
    exp = load_experiment(args.file)
    points = expand(exp, args.profile, parse_sets(args.set))  # all validated before any run
    hashes = check_points(points, args.jobs if args.jobs is not None else 1)
    profile = args.profile or "full"
    name = args.study or gq.study_name(exp.name, profile, hashes)
    check_study_name(name)
    if args.resume_from:  # before the journal, its lock or the MLflow store are created
        check_resume_from(args.resume_from, exp.name)
    gq.quiet_optuna()
    on_stale = gq.GridOnStale()
    beat = 10 if args.heartbeat is None else args.heartbeat
    grace = 60 if args.grace is None else args.grace
    try:
        store = open_storage(args.storage, name, heartbeat=beat, grace=grace, on_stale=on_stale)
    except ConfigError as err:  # a server's error text spans lines: one line here
        raise ConfigError(" ".join(str(err).split())) from None
    args.jobs = resolve_jobs(args.jobs, store)
    mlflow_retry.install()  # several processes may write to one SQLite store
    try:
        return _grid(args, exp, points, hashes, name, store, on_stale)
    except gq.SummaryFailed as err:
        print(f"rnnstudy: error: {' '.join(str(err).split())}", file=sys.stderr, flush=True)
        return 1
    finally:
        mlflow_retry.uninstall()


def check_resume_from(rid: str, experiment: str) -> None:
    """``--resume-from RUN_ID`` names a run of this experiment (read only: a missing SQLite
    store is not created)."""
    db = sqlite_path(tracking.tracking_uri())
    if db is not None and not db.exists():
        raise ConfigError(f"--resume-from: no run {rid!r} in the MLflow store (no {db})")
    c = tracking.client()
    try:
        run = c.get_run(rid)
        exp = c.get_experiment_by_name(experiment)
    except Exception:
        raise ConfigError(f"--resume-from: no run {rid!r} in the MLflow store") from None
    if exp is None or run.info.experiment_id != exp.experiment_id:
        raise ConfigError(f"--resume-from: run {rid} belongs to another experiment")


def _grid(
    args: argparse.Namespace,
    exp: ExperimentFile,
    points: list[Point],
    hashes: list[str],
    name: str,
    store: StudyStorage,
    on_stale: gq.GridOnStale,
) -> int:
    with store.lock():  # workers starting together: one creates the MLflow store/experiment
        c = tracking.client()
        exp_id = tracking.experiment_id(c, exp.name)
    profile = args.profile or "full"
    wanted = find_parent(c, exp_id, args, profile) if args.resume_from else None
    resume = bool(args.resume or args.resume_from)
    labels = [p.label for p in points]
    grid = gq.Grid(name, exp_id, hashes, labels, resume, store.heartbeat or 1, wanted)
    study = gq.open_study(store, grid)

    def parent_hook() -> str:
        old = wanted or find_parent(c, exp_id, args, profile)
        if old is None:
            return new_parent(c, exp_id, args, exp, len(points), storage=store.label,
                              optuna_study=name)  # fmt: skip
        stale = reopen(c, old, children(c, exp_id, old))  # no worker has started yet
        tracking.set_tags(c, old, {"resumed": "true", "outcome": "running", "optuna_study": name})
        note = f": {stale} interrupted child run(s) marked KILLED" if stale else ""
        print(f"resuming parent run {old}{note}")
        return old

    def run_hook(i: int, parent: str, again: str | None) -> PointDone:
        tags = {**point_tags(exp, points[i], hashes[i]), "optuna_study": name}
        cfg = points[i].config.model_dump(mode="json")
        progress = not args.no_progress and args.jobs == 1
        return run_point(cfg, points[i].label, exp.name, parent, tags, progress, again)

    def summary_hook(parent: str) -> None:
        summarise_parent(c, exp_id, parent, exp, points, report=not args.no_report)

    hooks = gq.Hooks(parent_hook, run_hook, summary_hook, _echo)
    parent, done = gq.join(study, store, grid, hooks)  # checks --resume-from first
    print(
        f"experiment {exp.name} [{profile}]: {len(points)} points in Optuna study {name!r}"
        f" ({store.label}), {args.jobs} worker(s) here, parent run {parent}\n"
        f"  MLflow: {tracking.run_url(exp_id, parent)}",
        flush=True,
    )
    if done:
        print(f"grid already finished (--resume re-runs its unfinished points); parent {parent}")
        return 0
    return _work(args, study, store, grid, hooks, parent, on_stale, exp_id)


def _work(args, study, store, grid, hooks, parent: str, on_stale, exp_id: str) -> int:
    helpers = _start_helpers(args.jobs - 1, args)
    try:
        with sigterm_as_interrupt():
            log = gq.work(study, store, grid, hooks, parent, on_stale)
            bad = _join(helpers)
    except KeyboardInterrupt:
        _stop(helpers)
        with contextlib.suppress(Exception):
            if not gq.state_of(study.get_trials(deepcopy=False)).running:  # the last worker
                c = tracking.client()
                tracking.set_tags(c, parent, {"outcome": "interrupted"})
                c.set_terminated(parent, "KILLED")
        raise
    finally:
        _stop(helpers)  # the main worker raised: no helper is left behind (a no-op otherwise)
    what = ", the summary and the report" if log.summarised and not args.no_report else ""
    what = ", the summary" if log.summarised and args.no_report else what
    failed = f" ({len(log.failed)} point(s) failed: {', '.join(log.failed)})" if log.failed else ""
    print(
        f"this worker ran {len(log.points)} point(s){what}; grid finished{failed}: parent {parent}"
    )
    print(f"  MLflow: {tracking.run_url(exp_id, parent)}", flush=True)
    if bad:
        print(f"rnnstudy: error: helper worker(s) failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _echo(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- helper workers (--jobs N)


def _start_helpers(n: int, args: argparse.Namespace) -> list[Any]:
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_helper, args=(args,), name=f"grid-worker-{i + 1}") for i in range(n)
    ]
    for p in procs:
        p.start()
    return procs


def _join(procs: list[Any]) -> list[str]:
    """Wait for every helper: the ones that failed, as ``name (exit code N)``."""
    for p in procs:
        p.join()
    return [f"{p.name} (exit code {p.exitcode})" for p in procs if p.exitcode != 0]


def _stop(procs: list[Any], wait: float = 120.0) -> None:
    """Interrupt every helper (SIGINT: its point is FAIL and queued again) and wait."""
    for p in procs:
        if p.is_alive() and p.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGINT)
    for p in procs:
        p.join(wait)
        if p.is_alive():
            p.kill()
            p.join()


def _helper(args: argparse.Namespace) -> None:
    """One helper: the same command with ``--jobs 1``; the first SIGINT/SIGTERM interrupts its
    point, later ones are ignored (Ctrl-C reaches it from the terminal and from this process)."""
    start_helper()
    args = argparse.Namespace(
        **{**vars(args), "jobs": 1, "no_progress": True, "resume": False, "resume_from": None}
    )
    try:
        rc = grid_command(args)
    except KeyboardInterrupt:
        rc = 0  # the main worker decides the command's exit code
    except ConfigError as err:
        print(f"rnnstudy: error: {err}", file=sys.stderr, flush=True)
        rc = 2
    sys.exit(rc)
