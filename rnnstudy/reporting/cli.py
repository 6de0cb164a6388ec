"""``rnnstudy report``: argument parsing and entry point (placeholder until implemented)."""

from __future__ import annotations

import argparse


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML + PDF report of an experiment from the MLflow store")
    p.add_argument("experiment", help="MLflow experiment name (the experiment file's `name:`)")
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")


def report_command(args: argparse.Namespace) -> int:
    raise NotImplementedError("rnnstudy report is not implemented yet")
