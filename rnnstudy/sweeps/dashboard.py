"""``rnnstudy dashboard``: optuna-dashboard over a sweep's storage, on 127.0.0.1 only.

    rnnstudy dashboard                                   # the one optuna/*.journal here
    rnnstudy dashboard experiments/sweep_lstm_copy.yaml  # that file's study journal
    rnnstudy dashboard optuna/sweep_lstm_copy.journal --port 8081
    rnnstudy dashboard postgresql://rnn@db-host/optuna  # a distributed sweep (password masked)
    make dashboard                                       # same as the first line

The storage is opened exactly as ``rnnstudy sweep`` opens it (``sweeps.storage.open_storage``:
journal file, or PostgreSQL / MySQL / SQLite URL), so the dashboard shows what the workers
write, live. Studies, trials, intermediate values (the pruning curves), parameter
importances and the parallel-coordinate plot are in the browser at http://127.0.0.1:8080/.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from rnnstudy.config import ConfigError

HOST = "127.0.0.1"  # never a public interface: the dashboard can edit studies


def add_dashboard_parser(sub) -> None:
    p = sub.add_parser("dashboard", help="optuna-dashboard over a sweep's storage (127.0.0.1)")
    p.add_argument(
        "storage",
        nargs="?",
        default=None,
        help="a .journal file, a postgresql:// (mysql://, sqlite:///) URL, or an experiment"
        " file whose sweep to show (default: $RNNSTUDY_STORAGE, else the one optuna/*.journal)",
    )
    p.add_argument("--profile", default=None, help="with an experiment file: its sweep profile")
    p.add_argument("--port", type=int, default=8080)


def journal_of(path: Path, profile: str | None) -> Path:
    """``optuna/<name>[-profile].journal`` of an experiment file (as ``rnnstudy sweep``)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the experiment file ({err})") from None
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: the experiment file has no `name:`")
    study = name + (f"-{profile}" if profile else "")  # as sweeps.plan.make_plan names it
    return Path("optuna") / f"{study}.journal"


def resolve(arg: str | None, profile: str | None = None) -> str:
    """The storage to show: a URL or an existing journal path; ConfigError otherwise."""
    arg = arg or os.environ.get("RNNSTUDY_STORAGE")
    if arg and "://" in arg and not arg.startswith("file://"):
        return arg
    if arg is None:
        found = sorted(Path("optuna").glob("*.journal"))
        if len(found) != 1:
            have = ", ".join(map(str, found)) or "none"
            raise ConfigError(
                f"dashboard: name the storage (optuna/*.journal here: {have});"
                " e.g. rnnstudy dashboard optuna/<study>.journal"
            )
        return str(found[0])
    path = Path(arg.removeprefix("file://"))
    if path.suffix.lower() in (".yaml", ".yml"):
        path = journal_of(path, profile)
    if not path.is_file():
        raise ConfigError(f"dashboard: no sweep journal at {path} (run the sweep first)")
    return str(path)


def serve(storage_arg: str, port: int) -> None:
    """Open the storage like ``rnnstudy sweep`` and serve optuna-dashboard until stopped."""
    from optuna_dashboard import run_server

    from rnnstudy.sweeps.storage import open_storage
    from rnnstudy.tracking import mask_secrets

    store = open_storage(storage_arg, "dashboard")
    print(f"optuna-dashboard on http://{HOST}:{port}/ over {mask_secrets(store.label)}", flush=True)
    run_server(store.storage, host=HOST, port=port)


def dashboard_command(args: argparse.Namespace) -> int:
    serve(resolve(args.storage, args.profile), args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m rnnstudy.sweeps.dashboard ...``: the same command without the full CLI."""
    import sys

    ap = argparse.ArgumentParser(prog="rnnstudy")
    add_dashboard_parser(ap.add_subparsers(dest="cmd", required=True))
    args = ap.parse_args(["dashboard", *(sys.argv[1:] if argv is None else argv)])
    try:
        return dashboard_command(args)
    except ConfigError as err:
        print(f"rnnstudy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
