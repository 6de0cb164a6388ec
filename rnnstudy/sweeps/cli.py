"""``rnnstudy sweep``: argument parsing and entry point (placeholder until implemented)."""

from __future__ import annotations

import argparse


def add_sweep_parser(sub, common) -> None:
    p = sub.add_parser("sweep", help="Optuna study over the file's `sweep:` section")
    common(p)
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: local file)")
    p.add_argument("--n-trials", type=int, default=None, help="override sweep.n_trials")


def sweep_command(args: argparse.Namespace) -> int:
    raise NotImplementedError("rnnstudy sweep is not implemented yet")
