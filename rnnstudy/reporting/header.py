"""The report header: experiment, date, git commit, machine, and the command to reproduce it."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
from dataclasses import dataclass, field

import pandas as pd

from rnnstudy import tracking
from rnnstudy.reporting.store import Store


@dataclass
class Header:
    experiment: str
    kind: str  # experiment | sweep | runs
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, value), in order
    reproduce: list[str] = field(default_factory=list)  # shell commands
    notes: list[str] = field(default_factory=list)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    return f"{platform.platform()}, {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _when(ms: object) -> str:
    if ms is None or pd.isna(ms):
        return "unknown"
    t = pd.Timestamp(ms)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return t.tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def commits(store: Store) -> str:
    col = "tags.mlflow.source.git.commit"
    vals: list[str] = []
    if store.parent is not None and isinstance(store.parent.get(col), str):
        vals.append(store.parent[col])
    if col in store.children:
        vals += [v for v in store.children[col].dropna().unique() if v not in vals]
    known = [v for v in vals if v and v != "unknown"]
    if not known:
        return "unknown (not run from a git checkout)"
    return ", ".join(v[:12] for v in known)


def reproduce(store: Store) -> list[str]:
    """The exact command(s) that recorded this experiment, from the parent's params."""
    file = store.parent_param("file")
    if not file:
        return []
    profile = store.parent_param("profile")
    sets = (store.parent_param("set") or "").split()
    sets += [
        f"{str(k)[len('params.set.') :]}={v}"
        for k, v in (store.parent.items() if store.parent is not None else [])
        if str(k).startswith("params.set.") and isinstance(v, str)
    ]
    flags = []
    if profile and profile not in ("None", "full"):
        flags += ["--profile", profile]
    for s in sets:
        flags += ["--set", s]
    cmd = "sweep" if store.kind == "sweep" else "experiment"
    line = shlex.join(["rnnstudy", cmd, file, *flags])
    if cmd == "experiment" and not flags:
        return [f"make experiment EXP={shlex.quote(file)}", line]
    if cmd == "sweep" and not flags:
        return [f"make sweep EXP={shlex.quote(file)}", line]
    return [line]


def build(store: Store, n_runs: int) -> Header:
    h = Header(store.name, store.kind)
    p = store.parent
    started = _when(
        p["start_time"] if p is not None else store.children.get("start_time", pd.Series()).min()
    )
    h.fields = [
        ("experiment", store.name),
        ("kind", {"runs": "single runs (no parent run)"}.get(store.kind, store.kind)),
        ("recorded", started),
        ("report built", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("git commit", commits(store)),
        ("child runs", str(n_runs)),
    ]
    if p is not None:
        status = str(p.get("status", ""))
        h.fields.append(("parent run", f"{p['run_id']} ({status.lower()})"))
        profile = store.parent_param("profile")
        if profile:
            h.fields.append(("profile", profile))
    h.fields.append(("machine (report built on)", machine()))
    h.fields.append(("MLflow store", tracking.mask_secrets(store.uri)))
    h.reproduce = reproduce(store)
    h.notes = list(store.notes)
    return h


def command_words(cmd: str) -> list[str]:
    """The words of a shell command with every ``--flag value`` kept together (for wrapping)."""
    words: list[str] = []
    for tok in cmd.split(" "):
        if (
            words
            and words[-1].startswith("--")
            and " " not in words[-1]
            and not tok.startswith("-")
        ):
            words[-1] += " " + tok
        else:
            words.append(tok)
    return words
