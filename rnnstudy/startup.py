"""A command process's start-up: its heavy imports with Python's cyclic garbage collector
paused, then everything they created frozen out of the collector's reach (``gc.freeze``).

Importing torch, Lightning and MLflow creates a few million long-lived objects. With the
collector on, the imports trigger full collections that walk all of them again and again, and
so do the full collections during training. Pausing the collector alone changes nothing (the
first collection afterwards walks them all); pausing it and freezing what the imports made
saves both. Measured on the 2-core CI machine (CPU seconds, fresh processes, 2026-11-22):
the imports of ``rnnstudy run`` 5.2-5.5 s → 3.7-3.9 s; a 200-step tour-size ``rnnstudy run``
8.6-9.2 s → 7.1-8.3 s (4 alternating pairs; ``make bench`` gives the 2,000-step figure).

Frozen objects are still freed when their reference count drops to zero; only reference cycles
among them are never collected, so the freeze happens once per process (later calls only pause
the collector while they import).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen = False


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Run the block (imports) with the collector paused; the first time in a process, freeze
    every object alive at its end. The collector's on/off state is restored."""
    global _frozen
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _frozen:
            gc.freeze()
            _frozen = True
        if was:
            gc.enable()


def import_training() -> None:
    """Import what training a point needs before its first step: the runner (torch, Lightning,
    the MLflow client) and, unless MLflow is a tracking server, MLflow's SQL store (SQLite and
    PostgreSQL go through it; its import is ≈ 1 s of the store's first use)."""
    import rnnstudy.runner  # noqa: F401
    from rnnstudy import tracking

    tracking.import_store()


def load_training() -> None:
    """A training process's start (experiment worker, sweep helper, benchmark): what
    ``import_training`` imports, under ``frozen_imports``."""
    with frozen_imports():
        import_training()
