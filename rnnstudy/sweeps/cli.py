"""``rnnstudy sweep``: an Optuna study over an experiment file's ``sweep:`` section.

One machine (the study lives in ``optuna/<name>.journal``; Ctrl-C and run again to resume)::

    rnnstudy sweep experiments/sweep_lstm_copy.yaml            # or: make sweep
    rnnstudy sweep experiments/sweep_lstm_copy.yaml --n-trials 40   # grow the same study

Many machines (docs/distributed.md): every worker runs the same command against one
PostgreSQL database and one MLflow tracking server::

    MLFLOW_TRACKING_URI=http://mlflow-host:5000 PGPASSWORD=... \\
      rnnstudy sweep experiments/sweep_lstm_copy.yaml --storage postgresql://rnn@db-host/optuna

``--storage`` defaults to ``$RNNSTUDY_STORAGE``, else the local journal file. Passwords in the
URL are masked in everything printed or logged.

``--jobs N`` (default: the cores on the local journal, 1 with a database storage) runs N worker
loops on this machine against the same storage: this process and N - 1 helper processes
(``spawn``; each trains with one torch thread, writes MLflow through the retrying client, and
is killed with this process). They share the budget lock, so together they run exactly
``n_trials``. Ctrl-C or SIGTERM interrupts every worker: each running trial is FAIL and queued
for retry, as with one worker.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna

import rnnstudy.mlflow_retry as mlflow_retry
from rnnstudy import tracking
from rnnstudy.config import ConfigError, parse_sets
from rnnstudy.experiment import load_experiment
from rnnstudy.helper_process import start_helper
from rnnstudy.parallel import cores
from rnnstudy.sweeps import importances
from rnnstudy.sweeps.plan import SweepPlan, make_plan
from rnnstudy.sweeps.records import counts, finish_parent, start_parent, trial_rows
from rnnstudy.sweeps.recovery import OnStale
from rnnstudy.sweeps.samplers import build_pruner, build_sampler
from rnnstudy.sweeps.storage import StudyStorage, open_storage
from rnnstudy.sweeps.study import WorkerReport, claims, run_worker
from rnnstudy.text import format_table


def open_study(plan: SweepPlan, store: StudyStorage) -> optuna.Study:
    val_every = int(plan.base.get("train", {}).get("val_every", 100))
    study = optuna.create_study(
        storage=store.storage,
        study_name=plan.study,
        direction=plan.spec.direction,
        sampler=build_sampler(plan.spec),
        pruner=build_pruner(plan.spec, val_every),
        load_if_exists=True,
    )
    want = optuna.study.StudyDirection[str(plan.spec.direction).upper()]
    if study.direction != want:
        raise ConfigError(
            f"study {plan.study!r} exists with direction {study.direction.name.lower()};"
            " pick another name with --study"
        )
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", plan.spec.metric)
        study.set_user_attr("file", plan.file)
    elif metric != plan.spec.metric:
        raise ConfigError(
            f"study {plan.study!r} optimises {metric}, not {plan.spec.metric};"
            " pick another name with --study"
        )
    return study


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the sweep like Ctrl-C: the running trial is queued for retry."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def resolve_jobs(jobs: int | None, store: StudyStorage) -> int:
    """``--jobs``: as given, else the cores on the local journal and 1 on a database storage."""
    if jobs is None:
        return cores() if store.heartbeat is None else 1
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1 (got {jobs})")
    return jobs


def sweep_command(args: argparse.Namespace) -> int:
    _quiet_optuna()
    exp = load_experiment(args.file)
    plan = make_plan(exp, args.file, args.profile, parse_sets(args.set), args.n_trials, args.study)
    url = args.storage or os.environ.get("RNNSTUDY_STORAGE") or None
    store = open_storage(
        url, plan.study, heartbeat=args.heartbeat, grace=args.grace, on_stale=OnStale()
    )
    jobs = resolve_jobs(getattr(args, "jobs", None), store)
    study = open_study(plan, store)
    if jobs > 1:
        mlflow_retry.install()  # several processes write to one SQLite store
    try:
        return _sweep(args, plan, url, store, study, jobs)
    finally:
        if jobs > 1:
            mlflow_retry.uninstall()


def _sweep(
    args: argparse.Namespace,
    plan: SweepPlan,
    url: str | None,
    store: StudyStorage,
    study: optuna.Study,
    jobs: int,
) -> int:
    c = tracking.client()
    parent = start_parent(c, plan, store.label)
    already = claims(study).finished
    print(
        f"sweep {plan.study}: {plan.spec.n_trials} trials ({already} already finished),"
        f" {plan.spec.metric} ({plan.spec.direction}), storage {store.label},"
        f" MLflow experiment {plan.experiment!r} parent run {parent}, {jobs} worker(s)",
        flush=True,
    )
    report = WorkerReport()
    helpers = Helpers(jobs - 1, (plan, url, args.heartbeat, args.grace, parent))
    try:
        with sigterm_as_interrupt():
            run_worker(
                plan, study, store, parent, progress=not args.no_progress, echo=_echo, report=report
            )
            ran_there = helpers.join()
    except KeyboardInterrupt:
        ran_there = helpers.stop()
        note = importances.Importances(notes=["interrupted: importances not computed"])
        ran = len(report.ran) + ran_there
        finish_parent(c, parent, study, plan, note, ran, status="KILLED")
        raise
    ran = len(report.ran) + ran_there
    seed = getattr(plan.spec.sampler, "seed", None) or 0
    imps = importances.compute(study, plan.maximize, seed)
    finish_parent(c, parent, study, plan, imps, ran)
    _summary(study, plan, imps)
    return 0


def _quiet_optuna() -> None:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


class Helpers:
    """``n`` helper worker processes (``spawn``) running ``run_worker`` on the same study;
    each reports how many trials it ran."""

    def __init__(self, n: int, job: tuple[Any, ...]):
        ctx = mp.get_context("spawn")
        self.results = ctx.SimpleQueue()
        self.procs = [
            ctx.Process(target=_helper, args=(*job, self.results), name=f"sweep-worker-{i + 1}")
            for i in range(n)
        ]
        for p in self.procs:
            p.start()

    def _collect(self) -> int:
        ran = 0
        while not self.results.empty():
            ran += int(self.results.get())
        return ran

    def join(self) -> int:
        """Wait for every helper to run out of trials; the number of trials they ran."""
        for p in self.procs:
            p.join()
        return self._collect()

    def stop(self, wait: float = 120.0) -> int:
        """Interrupt every helper (SIGINT: its trial is FAIL and queued for retry) and wait."""
        for p in self.procs:
            if p.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGINT)
        for p in self.procs:
            p.join(wait)
            if p.is_alive():
                p.kill()
                p.join()
        return self._collect()


def _helper(plan: SweepPlan, url: str | None, heartbeat: int, grace: int, parent: str, results):
    """One helper worker (module docstring); the first SIGINT/SIGTERM interrupts its trial,
    later ones are ignored (Ctrl-C reaches it from the terminal and from the main process)."""
    start_helper()
    _quiet_optuna()
    mlflow_retry.install()
    report = WorkerReport()
    try:
        store = open_storage(url, plan.study, heartbeat=heartbeat, grace=grace, on_stale=OnStale())
        run_worker(plan, open_study(plan, store), store, parent, echo=_echo, report=report)
    except KeyboardInterrupt:
        pass
    finally:
        results.put(len(report.ran))


def _echo(text: str) -> None:
    print(text, flush=True)


def _summary(study: optuna.Study, plan: SweepPlan, imps: importances.Importances) -> None:
    rows = trial_rows(study)
    print(format_table(rows) if rows else "(no trials)")
    n = counts(study)
    print(
        f"{n['complete']} complete, {n['pruned']} pruned, {n['failed']} failed"
        + (f", {n['retried']} retried" if n["retried"] else "")
    )
    try:
        best = study.best_trial
        print(f"best: trial {best.number} {plan.spec.metric}={best.value:.4g} {best.params}")
    except ValueError:
        print("best: none (no complete trial)")
    if imps.rows():
        print(format_table(imps.rows()))
    for note in imps.notes:
        print(note)
    sys.stdout.flush()
