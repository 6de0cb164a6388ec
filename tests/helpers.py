"""Small shared builders for tests: tiny configs and a one-call trainer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from rnnstudy.config import parse_run


def tiny(**over):
    """A tiny, fast run config; keyword args are dotted paths with '__' for '.'."""
    data = {
        "task": {"name": "copy", "A": 4, "K": 3, "T": 6},
        "model": {"cell": "lstm", "hidden_size": 8},
        "train": {"max_steps": 5, "batch_size": 8, "val_every": 5, "val_size": 16},
        "probe": {"every": 2},
    }
    from rnnstudy.config import apply_overrides

    data = apply_overrides(data, {k.replace("__", "."): v for k, v in over.items()})
    return parse_run(data)


def sigint_default() -> None:
    """``preexec_fn`` for a CLI child that the test interrupts with SIGINT: the signal back to
    its default, so the child's Python turns it into KeyboardInterrupt even when the tests run
    in a background job (which starts with SIGINT ignored; an ignored signal stays ignored
    across ``exec``, and Python then leaves it so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_sweep(path: Path, folder: Path, jobs: int) -> subprocess.Popen:
    """``rnnstudy sweep FILE --jobs N`` in a child the test can Ctrl-C (``sigint_default``),
    unbuffered output on its stdout pipe."""
    cmd = [sys.executable, "-m", "rnnstudy.cli", "sweep", str(path), "--no-progress"]
    return subprocess.Popen(
        [*cmd, "--jobs", str(jobs)],
        cwd=folder,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=sigint_default,
    )
