"""rnnstudy command line.

    rnnstudy run FILE [--set a.b=v ...] [--profile quick]      one run (the file's base config)
    rnnstudy experiment FILE [--set ...] [--profile quick]     the grid: parent run + child per point,
                                                               --jobs N processes (default: cores)
    rnnstudy experiment FILE --storage URL                      the grid shared by every worker
                                                               running this command (many machines)
    rnnstudy sweep FILE [--storage URL] [--n-trials N]          Optuna study over the file's sweep:
    rnnstudy report EXPERIMENT [--out reports/]                 HTML + PDF report from the MLflow store
    rnnstudy ui [--port 5000]                                  MLflow UI on 127.0.0.1 over the store

Bad input exits with code 2 and one line on stderr, before any MLflow run is created.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable

from rnnstudy import startup
from rnnstudy.config import ConfigError
from rnnstudy.parallel import cores


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="experiment YAML file")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override")
    p.add_argument("--profile", default=None, help="named profile in the file (e.g. quick)")
    p.add_argument("--no-progress", action="store_true", help="hide Lightning's progress bars")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rnnstudy", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    _common(sub.add_parser("run", help="train one configuration"))
    e = sub.add_parser("experiment", help="run an experiment file's grid")
    _common(e)
    e.add_argument(
        "--jobs",
        type=int,
        default=None,
        help=f"grid points in parallel worker processes (default: the cores, {cores()}; with a"
        " database --storage, 1: each machine runs its own command); 1 runs them in this process",
    )
    e.add_argument("--resume", action="store_true", help="skip points already finished")
    e.add_argument("--resume-from", default=None, metavar="RUN_ID", help="parent run to resume")
    e.add_argument("--no-report", action="store_true", help="do not build the report at the end")
    e.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="share the grid through an Optuna storage: a .journal file (processes on one"
        " machine) or postgresql://... (many machines); every worker runs the same command"
        " (docs/distributed.md)",
    )
    e.add_argument("--study", default=None, help="with --storage: the study name (default:"
                   " <name>-<profile>-grid-<fingerprint of the points>)")  # fmt: skip
    e.add_argument(
        "--heartbeat", type=int, default=None, help="with --storage: seconds (default: 10)"
    )
    e.add_argument(
        "--grace",
        type=int,
        default=None,
        help="with --storage: seconds without heartbeat"
        " before the worker counts as gone (default: 60)",
    )
    from rnnstudy.reporting.cli import add_report_parser
    from rnnstudy.sweeps.args import add_sweep_parser
    from rnnstudy.sweeps.dashboard import add_dashboard_parser

    add_sweep_parser(sub, _common)
    add_dashboard_parser(sub)
    add_report_parser(sub)
    u = sub.add_parser("ui", help="MLflow UI over the project's store")
    u.add_argument("--port", type=int, default=5000, help="default: 5000 (make ui PORT=...)")
    u.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (default: 1, enough for one person; MLflow's own default is 4)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return dispatch(args)
    except ConfigError as err:
        print(f"rnnstudy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnstudy: interrupted", file=sys.stderr)
        return 130


def dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "ui":
        return ui_command(args)
    grid = args.cmd == "experiment" and getattr(args, "storage", None) is not None
    if args.cmd == "experiment" and not grid:
        given = [f"--{k}" for k in ("study", "heartbeat", "grace") if getattr(args, k) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: only with --storage URL")
    with startup.frozen_imports():
        command = _command("grid" if grid else args.cmd)
    return command(args)


def ui_command(args: argparse.Namespace) -> int:
    """``mlflow ui`` over the project's store, run by this interpreter's MLflow: works from a
    fresh clone with no virtual environment activated (``.venv/bin`` not on PATH)."""
    from rnnstudy import tracking

    print(f"MLflow UI: {tracking.ui_url(base=tracking.local_ui(args.port))}", flush=True)
    return subprocess.call(tracking.ui_command(port=args.port, workers=args.workers))


def _command(cmd: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``cmd``, its imports done (training commands: also what a
    training step needs, see ``rnnstudy.startup``)."""
    if cmd == "dashboard":
        from rnnstudy.sweeps.dashboard import dashboard_command

        return dashboard_command
    if cmd == "report":
        from rnnstudy.reporting.cli import report_command

        return report_command
    startup.import_training()
    if cmd == "sweep":
        from rnnstudy.sweeps.cli import sweep_command

        return sweep_command
    from rnnstudy.commands import experiment_command, run_command

    if cmd == "run":
        return run_command
    if cmd == "experiment":
        return experiment_command
    if cmd == "grid":  # experiment --storage URL
        from rnnstudy.grid_command import grid_command

        return grid_command
    raise AssertionError(cmd)


if __name__ == "__main__":
    sys.exit(main())
