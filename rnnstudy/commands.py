"""The work behind ``rnnstudy run`` and ``rnnstudy experiment``: validate all, then run."""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
from pathlib import Path

from rnnstudy import tracking
from rnnstudy.config import load_experiment, parse_sets
from rnnstudy.experiment import base_config, expand, format_table, summary_rows
from rnnstudy.runner import run_one

COLUMNS = ["point", "outcome", "metric", "final", "chance", "steps_to_solve", "seconds"]


def run_command(args: argparse.Namespace) -> int:
    exp = load_experiment(args.file)
    cfg = base_config(exp, args.profile, parse_sets(args.set))
    res = run_one(cfg, experiment=exp.name, progress=not args.no_progress)
    print(format_table(summary_rows([res]), COLUMNS))
    return 0


def experiment_command(args: argparse.Namespace) -> int:
    exp = load_experiment(args.file)
    points = expand(exp, args.profile, parse_sets(args.set))  # all validated before any run
    c = tracking.client()
    exp_id = tracking.experiment_id(c, exp.name)
    parent = tracking.start_run(
        c,
        exp_id,
        f"{exp.name}" + (f" [{args.profile}]" if args.profile else ""),
        {"file": args.file, "profile": args.profile, "points": len(points)},
        {"rnnstudy.kind": "experiment", "profile": args.profile or "full"},
    )
    print(f"experiment {exp.name}: {len(points)} runs, parent run {parent}")
    results = []
    try:
        for i, p in enumerate(points, 1):
            print(f"[{i}/{len(points)}] {p.label}")
            try:
                res = run_one(
                    p.config, experiment=exp.name, parent_id=parent, progress=not args.no_progress
                )
            except Exception as err:  # a crashed point is recorded; the experiment goes on
                print(f"  point failed: {err!r}")
                continue
            print(f"  -> {res.outcome} ({res.seconds:.1f}s)")
            results.append(res)
    except KeyboardInterrupt:
        c.set_terminated(parent, "KILLED")
        raise
    rows = summary_rows(results)
    table = format_table(rows, COLUMNS)
    print(table)
    _log_summary(c, parent, rows, table)
    c.set_terminated(parent, "FINISHED")
    return 0


def _log_summary(c, parent: str, rows: list[dict], table: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        (Path(tmp) / "summary.csv").write_text(buf.getvalue())
        (Path(tmp) / "summary.txt").write_text(table + "\n")
        c.log_artifact(parent, str(Path(tmp) / "summary.csv"))
        c.log_artifact(parent, str(Path(tmp) / "summary.txt"))
    n = max(len(rows), 1)
    tracking.set_tags(c, parent, {"outcome": "finished"})
    from mlflow.entities import Metric
    import time

    ts = int(time.time() * 1000)
    metrics = [
        Metric("summary/solved_rate", sum(r["outcome"] == "solved" for r in rows) / n, ts, 0),
        Metric("summary/diverged_rate", sum(r["outcome"] == "diverged" for r in rows) / n, ts, 0),
        Metric("summary/runs", float(len(rows)), ts, 0),
    ]
    c.log_batch(parent, metrics=metrics)
