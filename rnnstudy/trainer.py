"""The Lightning Trainer of a run, and what goes with it on screen.

Importing this module imports Lightning behind a stand-in for ``scipy.signal`` (below): import
it before anything else that imports ``pytorch_lightning`` (``rnnstudy.runner`` does).
"""

# ruff: noqa: E402  (pytorch_lightning is imported inside ``_deferred``, below)
from __future__ import annotations

import importlib
import logging
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in for a module in ``sys.modules``: the first attribute read imports the real one."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


@contextmanager
def _deferred(name: str, **attrs: Any) -> Iterator[None]:
    """While the block runs, ``import name`` gives a ``_Deferred`` stand-in (with ``attrs``
    set on it); afterwards the real module is imported by whoever first needs it."""
    if name in sys.modules:
        yield
        return
    stand_in = _Deferred(name)
    stand_in.__file__ = None  # ``inspect.getmodule`` reads every module's ``__file__``
    stand_in.__dict__.update(attrs)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def _hamming(*args: Any, **kwargs: Any) -> Any:
    return importlib.import_module("scipy.signal.windows").hamming(*args, **kwargs)


# Lightning imports torchmetrics, whose package import runs ``import scipy.signal`` (≈ 1 s of
# CPU, a third of Lightning's import) only to check for ``scipy.signal.hamming``; nothing in a
# run uses scipy.signal. A stand-in answers that check; a later ``import scipy.signal`` (e.g.
# a torchmetrics audio metric) imports the real module.
with _deferred("scipy.signal", hamming=_hamming):
    import pytorch_lightning as pl

from rnnstudy.config import RunConfig


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*IterableDataset.*__len__.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*`training_step` returned `None`.*")


def make_trainer(cfg: RunConfig, logger, callbacks: list, progress: bool) -> pl.Trainer:
    return pl.Trainer(
        max_steps=cfg.train.max_steps,
        val_check_interval=min(cfg.train.val_every, cfg.train.max_steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        accelerator=cfg.train.accelerator,
        devices=1,
        precision="64-true" if cfg.train.precision == "64" else "32-true",
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        # 0: Lightning collects no per-step metrics of its own (~0.1 ms a step); the instruments
        # log through the logger themselves, every ``train.log_every`` steps
        log_every_n_steps=0,
        deterministic=False,
    )


def show_bar(progress: bool) -> bool:
    """A progress bar only on a terminal: off a TTY its redraws fill a log with megabytes."""
    return progress and sys.stderr.isatty()


class ValidationLines(pl.Callback):
    """Off a terminal: one line per validation on stderr instead of progress-bar redraws.

    ``[lstm qa_distance seed=0] step 100  val/loss 1.386  val/acc 0.250``
    """

    def __init__(self, label: str, metric: str):
        self.label, self.metric = label, metric

    def on_validation_end(self, trainer, pl_module) -> None:
        m = pl_module.val_metrics
        if not m:
            return
        parts = [f"[{self.label}] step {trainer.global_step}", f"val/loss {m['val/loss']:.4g}"]
        if self.metric != "val/loss" and self.metric in m:
            parts.append(f"{self.metric} {m[self.metric]:.4g}")
        print("  ".join(parts), file=sys.stderr, flush=True)
