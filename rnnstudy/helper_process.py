"""The start of a helper worker process (``--jobs N`` of ``rnnstudy sweep`` and of
``rnnstudy experiment --storage``): one place for what both kinds of helper need before they
take work.

* It dies with its parent (Linux ``PR_SET_PDEATHSIG``), so a killed command leaves no helper
  training on; the helper's trial is then reaped like the parent's.
* The first SIGINT/SIGTERM raises ``KeyboardInterrupt`` (its trial or point is failed and queued
  again); later ones are ignored (Ctrl-C reaches it from the terminal *and* from the parent).
* One torch thread, the Agg backend, and the training imports loaded once.

    def _helper(args):
        start_helper()
        try:
            work(args)
        except KeyboardInterrupt:
            ...
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal


def die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (SIGKILL included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the call
        os._exit(1)


def start_helper() -> None:
    """Everything a helper process does before its first trial or point (module docstring)."""
    die_with_parent()
    interrupted: list[int] = []

    def interrupt(signum, frame):  # noqa: ARG001
        if not interrupted:
            interrupted.append(signum)
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    import torch

    from rnnstudy import startup

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "agg")
    startup.load_training()
