"""``rnnstudy sweep`` arguments: kept apart from the sweep code so that building the CLI parser
imports neither optuna nor torch (``rnnstudy report`` must stay light)."""

from __future__ import annotations


def add_sweep_parser(sub, common) -> None:
    p = sub.add_parser("sweep", help="Optuna study over the file's `sweep:` section")
    common(p)
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: a .journal path or postgresql://... "
        "(default: $RNNSTUDY_STORAGE, else optuna/<study>.journal)",
    )
    p.add_argument(
        "--n-trials", type=int, default=None, help="override sweep.n_trials (study total)"
    )
    p.add_argument("--study", default=None, help="study name (default: the file's name[-profile])")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes on this machine, each training with one torch thread (default:"
        " the cores on the local journal, 1 with a database storage, where each machine runs"
        " its own command)",
    )
    p.add_argument("--heartbeat", type=int, default=10, help="RDB heartbeat interval, seconds")
    p.add_argument("--grace", type=int, default=60, help="seconds without heartbeat before retry")
