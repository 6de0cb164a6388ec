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
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from rnnstudy import tracking
from rnnstudy.config import ConfigError, load_experiment, parse_sets
from rnnstudy.experiment import format_table
from rnnstudy.sweeps import importances
from rnnstudy.sweeps.plan import SweepPlan, make_plan
from rnnstudy.sweeps.records import counts, finish_parent, start_parent, trial_rows
from rnnstudy.sweeps.recovery import OnStale
from rnnstudy.sweeps.samplers import build_pruner, build_sampler
from rnnstudy.sweeps.storage import StudyStorage, open_storage
from rnnstudy.sweeps.study import WorkerReport, claims, run_worker


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


def sweep_command(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(args.file)
    plan = make_plan(exp, args.file, args.profile, parse_sets(args.set), args.n_trials, args.study)
    url = args.storage or os.environ.get("RNNSTUDY_STORAGE") or None
    store = open_storage(
        url, plan.study, heartbeat=args.heartbeat, grace=args.grace, on_stale=OnStale()
    )
    study = open_study(plan, store)
    c = tracking.client()
    parent = start_parent(c, plan, store.label)
    already = claims(study).finished
    print(
        f"sweep {plan.study}: {plan.spec.n_trials} trials ({already} already finished),"
        f" {plan.spec.metric} ({plan.spec.direction}), storage {store.label},"
        f" MLflow experiment {plan.experiment!r} parent run {parent}",
        flush=True,
    )
    report = WorkerReport()
    try:
        with sigterm_as_interrupt():
            run_worker(
                plan, study, store, parent, progress=not args.no_progress, echo=_echo, report=report
            )
    except KeyboardInterrupt:
        note = importances.Importances(notes=["interrupted: importances not computed"])
        finish_parent(c, parent, study, plan, note, len(report.ran), status="KILLED")
        raise
    ran = len(report.ran)
    seed = getattr(plan.spec.sampler, "seed", None) or 0
    imps = importances.compute(study, plan.maximize, seed)
    finish_parent(c, parent, study, plan, imps, ran)
    _summary(study, plan, imps)
    return 0


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
