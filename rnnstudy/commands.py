"""The work behind ``rnnstudy run`` and ``rnnstudy experiment``: validate all, then run.

    rnnstudy run experiments/tour.yaml --profile quick
    rnnstudy experiment experiments/clip_ablation.yaml --profile quick --jobs 2
    rnnstudy experiment experiments/clip_ablation.yaml --resume          # after an interruption
                                    # (runs with train.checkpoint_every continue from their checkpoint)
    rnnstudy experiment experiments/clip_ablation.yaml --resume-from RUN_ID
    rnnstudy experiment experiments/clip_ablation.yaml --storage URL   # many machines:
                                    # rnnstudy.grid_command, docs/distributed.md

An experiment is one parent MLflow run with one child run per grid point (tag ``config_hash``),
run in ``--jobs`` processes; at the end the study summary (``summary:`` section of the file) is
printed and logged on the parent: ``summary.csv``, ``points.csv``, ``summary.md`` and headline
metrics ``summary/<config>/<stat>``. Unless ``--no-report``, the HTML/PDF report is built.
"""

from __future__ import annotations

import argparse

import rnnstudy.mlflow_retry as mlflow_retry
from rnnstudy import tracking
from rnnstudy.config import ConfigError, parse_sets
from rnnstudy.experiment import ExperimentFile, Point, base_config, expand, load_experiment
from rnnstudy.parallel import PointDone, cores, run_points
from rnnstudy.resume import (
    HASH_TAG,
    children,
    config_hash,
    finished_by_hash,
    latest_parent,
    reopen,
    resumable,
)
from rnnstudy.runner import run_one
from rnnstudy.studies import STUDY_TAG, collect, summarise
from rnnstudy.studies.points import point_table
from rnnstudy.studies.publish import publish
from rnnstudy.studies.records import CONFIG_TAG, POINT_TAG, from_run


def run_command(args: argparse.Namespace) -> int:
    """One run; its row of the per-point table, read back from MLflow like an experiment's."""
    exp = load_experiment(args.file)
    cfg = base_config(exp, args.profile, parse_sets(args.set))
    res = run_one(cfg, experiment=exp.name, progress=not args.no_progress, extra_tags=exp_tags(exp))
    rec = run = None
    if res.run_id:
        c = tracking.client()
        run = tracking.get_run(c, res.run_id)
        rec = from_run(c, run)
    print(point_table([rec]).text() if rec else f"{cfg.name}: {res.outcome} (not recorded)")
    if run is not None:
        print(f"MLflow run: {tracking.run_url(run.info.experiment_id, res.run_id)}")
    return 0


def exp_tags(exp: ExperimentFile) -> dict[str, str]:
    """MLflow tags the file asks for on its parent and every child run (``summary.tags``,
    e.g. ``{repro: pascanu2013}`` for a reproduction)."""
    return dict(exp.summary.tags)


def check_points(points: list[Point], jobs: int) -> list[str]:
    """Validate what the grid cannot: jobs, distinct points. Returns the hashes."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1 (got {jobs})")
    hashes = [config_hash(p.config) for p in points]
    seen: dict[str, str] = {}
    for p, h in zip(points, hashes, strict=True):
        if h in seen:
            raise ConfigError(f"grid points {seen[h]!r} and {p.label!r} are the same run config")
        seen[h] = p.label
    return hashes


def experiment_command(args: argparse.Namespace) -> int:
    exp = load_experiment(args.file)
    points = expand(exp, args.profile, parse_sets(args.set))  # all validated before any run
    if getattr(args, "jobs", None) is None:
        args.jobs = cores()
    hashes = check_points(points, args.jobs)
    mlflow_retry.install()  # several processes may write to one SQLite store
    try:
        return _experiment(args, exp, points, hashes)
    finally:
        mlflow_retry.uninstall()


def find_parent(c, exp_id: str, args: argparse.Namespace, profile: str) -> str | None:
    """The parent run ``--resume-from`` names (checked) or ``--resume`` finds, else None."""
    rid = getattr(args, "resume_from", None)
    if rid:
        try:
            run = c.get_run(rid)
        except Exception:
            raise ConfigError(f"--resume-from: no run {rid!r} in the MLflow store") from None
        if run.info.experiment_id != exp_id:
            raise ConfigError(f"--resume-from: run {rid} belongs to another experiment")
        return rid
    return latest_parent(c, exp_id, profile) if args.resume else None


def new_parent(c, exp_id: str, args, exp: ExperimentFile, n: int, **extra: str) -> str:
    """A new parent run (RUNNING) for this invocation; ``extra`` become params and tags."""
    profile = args.profile or "full"
    params = {"file": args.file, "profile": profile, "points": n, "set": " ".join(args.set)}
    tags = {
        "rnnstudy.kind": "experiment",
        STUDY_TAG: exp.summary.kind,
        "profile": profile,
        "outcome": "running",
        **exp_tags(exp),
    }
    return tracking.start_run(
        c, exp_id, f"{exp.name} [{profile}]", {**params, **extra}, {**tags, **extra}
    )


def point_tags(exp: ExperimentFile, p: Point, h: str) -> dict[str, str]:
    """The tags of a point's child run: its hash, label, configuration, the file's tags."""
    return {HASH_TAG: h, POINT_TAG: p.label, CONFIG_TAG: p.config_label, **exp_tags(exp)}


def _experiment(args, exp: ExperimentFile, points: list[Point], hashes: list[str]) -> int:
    c = tracking.client()
    exp_id = tracking.experiment_id(c, exp.name)
    profile = args.profile or "full"
    parent = find_parent(c, exp_id, args, profile)
    done: set[str] = set()
    again: dict[str, str] = {}  # config hash -> an interrupted run to continue (checkpoint)
    if parent is not None:
        runs = children(c, exp_id, parent)
        done = set(finished_by_hash(runs)) & set(hashes)
        again = {h: r.info.run_id for h, r in resumable(runs).items() if h in hashes}
        again = {h: rid for h, rid in again.items() if h not in done}
        stale = reopen(c, parent, runs)
        tracking.set_tags(c, parent, {"resumed": "true", "outcome": "running"})
        print(f"resuming parent run {parent}: {len(done)} of {len(points)} points finished", end="")
        print(f", {stale} interrupted child run(s) marked KILLED" if stale else "", end="")
        print(f", {len(again)} to continue from their checkpoints" if again else "")
    else:
        if args.resume:
            print(f"--resume: no earlier {exp.name} [{profile}] run found; starting a new one")
        parent = new_parent(c, exp_id, args, exp, len(points))
    todo = [i for i, h in enumerate(hashes) if h not in done]
    print(
        f"experiment {exp.name} [{profile}]: {len(points)} points, running {len(todo)}"
        f" (--jobs {args.jobs}), parent run {parent}\n"
        f"  MLflow: {tracking.run_url(exp_id, parent)}"
    )

    def report(i: int, n: int, d: PointDone) -> None:
        note = f" {d.error}" if d.error else ""
        print(f"[{i + 1}/{n}] {d.label} -> {d.outcome} ({d.seconds:.1f}s){note}", flush=True)

    try:
        run_points(
            [points[i] for i in todo],
            [point_tags(exp, points[i], hashes[i]) for i in todo],
            experiment=exp.name,
            parent_id=parent,
            jobs=args.jobs,
            progress=not args.no_progress and args.jobs == 1,
            report=report,
            resume=[again.get(hashes[i]) for i in todo],
        )
    except BaseException as err:  # Ctrl-C, SIGTERM (Lightning raises it), a bug: never RUNNING
        killed = isinstance(err, KeyboardInterrupt) or "SIGTERM" in type(err).__name__
        tracking.set_tags(c, parent, {"outcome": "interrupted" if killed else "failed",
                                      "error": repr(err)[:500]})  # fmt: skip
        c.set_terminated(parent, "KILLED" if killed else "FAILED")
        raise
    summarise_parent(c, exp_id, parent, exp, points, report=not args.no_report)
    return 0


def summarise_parent(
    c, exp_id: str, parent: str, exp: ExperimentFile, points: list[Point], *, report: bool
) -> None:
    """The study summary of the parent's children: printed, logged on the parent (then
    FINISHED), and the report unless ``report`` is False."""
    records = collect(c, exp_id, parent, points)
    tables = summarise(records, exp.summary)
    for t in [tables[-1], *tables[:-1]]:  # per point first, the study table last
        print(f"\n{t.text()}")
    publish(c, parent, tables, records)
    missing = sum(r.outcome in ("missing", "failed") for r in records)
    tracking.set_tags(c, parent, {"outcome": "finished" if not missing else f"{missing} failed"})
    c.set_terminated(parent, "FINISHED")
    if report:
        build_report(exp.name, parent)
    print(f"\nparent run in MLflow: {tracking.run_url(exp_id, parent)}", flush=True)


def build_report(name: str, parent: str) -> None:
    """The HTML/PDF report of this invocation (its own parent run, not the latest one in the
    experiment: a newer quick or sweep parent, or a ``--resume-from`` of an older one, would
    otherwise put another invocation in the report). A failure here never fails the
    experiment."""
    try:
        from rnnstudy.reporting.cli import add_report_parser, report_command

        ap = argparse.ArgumentParser(prog="rnnstudy")
        add_report_parser(ap.add_subparsers(dest="cmd"))
        report_command(ap.parse_args(["report", name, "--parent", parent]))
    except (Exception, SystemExit) as err:
        print(
            f"report not built ({type(err).__name__}: {err});"
            f" try: rnnstudy report {name} --parent {parent}"
        )
