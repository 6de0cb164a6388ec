"""``rnnstudy report``: the HTML + PDF report of one experiment, from the MLflow store only.

    rnnstudy report tour                          # the MLflow experiment named "tour"
    rnnstudy report experiments/tour.yaml         # same: the file's `name:` (as `make experiment`)
    rnnstudy report clip_ablation --out /tmp/r    # -> /tmp/r/clip_ablation/{index.html,report.pdf}
    rnnstudy report tour --parent all             # pool every invocation (default: the latest)

The store is ``$MLFLOW_TRACKING_URI`` (default ``sqlite:///mlflow.db``). An unknown experiment
is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from rnnstudy.config import ConfigError


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML + PDF report of an experiment from the MLflow store")
    p.add_argument(
        "experiment", help="MLflow experiment name, or an experiment YAML file (its `name:`)"
    )
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument(
        "--parent",
        default="latest",
        help="which invocation: latest (default), all, or a parent run id",
    )


def experiment_name(arg: str) -> str:
    """``arg`` itself, or the ``name:`` of the YAML file it points to."""
    path = Path(arg)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"no such experiment file: {arg}")
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{arg}: not valid YAML ({err.__class__.__name__})") from None
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{arg}: the experiment file has no `name:`")
        return name
    return arg


def report_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("MPLBACKEND", "agg")
    from rnnstudy.reporting.build import build_report

    name = experiment_name(args.experiment)
    rep = build_report(name, args.out, getattr(args, "parent", "latest"))
    total = sum(rep.seconds.values())
    print(
        f"report {name}: {rep.runs} runs, {len(rep.figures)} figures, {len(rep.tables)} tables,"
        f" {rep.pdf_pages} PDF pages in {total:.1f}s"
    )
    print(f"  {rep.html}\n  {rep.pdf}")
    for p in rep.problems:
        print(f"  warning: figure not drawn: {p}")
    return 0
