"""Run one configuration: build task, model, data, instruments, train, record in MLflow.

This is the single training loop of the project: ``rnnstudy run``, every grid point of
``rnnstudy experiment`` and every Optuna trial of ``rnnstudy sweep`` go through ``run_one``.
"""

# ruff: noqa: E402  (pytorch_lightning is imported inside ``_deferred``, below)
from __future__ import annotations

import importlib
import logging
import math
import os
import platform
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
import torch
import yaml
from torch.utils.data import DataLoader, IterableDataset

from rnnstudy import tracking
from rnnstudy.checkpoint import RunCheckpoint, fetch, publisher, reopen_run
from rnnstudy.config import RunConfig, flatten
from rnnstudy.curriculum import task_callbacks
from rnnstudy.data import TaskData
from rnnstudy.instruments.callbacks import instrument_callbacks
from rnnstudy.mlflow_logger import BufferedMLflowLogger
from rnnstudy.module import SequenceModule, update_windows
from rnnstudy.tasks import Batch, Task, build_task

log = logging.getLogger("rnnstudy")


@dataclass
class RunResult:
    config: RunConfig
    outcome: str  # solved | unsolved | diverged | failed | pruned
    metrics: dict[str, float] = field(default_factory=dict)
    steps_to_solve: int | None = None
    run_id: str | None = None
    seconds: float = 0.0
    reason: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def run_tags(cfg: RunConfig) -> dict[str, str]:
    host = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus)"
    return {"cell": cfg.model.cell, "task": cfg.task.name, "clip": cfg.clip.label(), "host": host}


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


def run_one(
    cfg: RunConfig,
    *,
    experiment: str | None = None,
    parent_id: str | None = None,
    extra_tags: dict[str, Any] | None = None,
    callbacks: list | None = None,
    progress: bool = True,
    task: Task | None = None,
    label: str | None = None,
    resume_run: str | None = None,
) -> RunResult:
    """Train one configuration. With ``experiment`` set, everything is recorded in MLflow.

    ``progress``: a progress bar when stderr is a terminal; otherwise (and always when stderr
    is not a terminal) one line per validation on stderr, labelled ``label`` (default the
    config's name). Any exception once the MLflow run exists leaves it FAILED (KILLED for a
    pruned trial) with tags ``outcome`` and ``error``.

    ``resume_run``: the id of an interrupted run of this config (with ``experiment``): it is
    continued from its checkpoint, in that same MLflow run (``rnnstudy.checkpoint``).
    """
    quiet_lightning()
    torch.set_num_threads(cfg.train.threads)
    task = task or build_task(cfg.task)
    client = run_id = logger = None
    if experiment is not None:
        client = tracking.client()
        exp_id = tracking.experiment_id(client, experiment)
        tags = {**run_tags(cfg), "outcome": "running", **(extra_tags or {})}
        if resume_run is not None:
            run_id, logger = resume_run, reopen_run(client, resume_run, tags)
        else:
            run_id = tracking.start_run(
                client, exp_id, cfg.name, flatten(cfg.model_dump()), tags, parent_id
            )
            logger = BufferedMLflowLogger(client, run_id)
    try:
        return _train(
            cfg, task, client, run_id, logger, callbacks, progress, label, resume_run is not None
        )
    except BaseException as err:
        if client is not None:
            _record_failure(client, run_id, logger, err)
        raise


def _record_failure(client, run_id: str, logger, err: BaseException) -> None:
    """The run's true state after ``err``: FAILED (KILLED for a pruned trial), tagged."""
    try:
        logger.flush()  # what was measured before the error is kept
    except Exception:
        pass  # the error being recorded matters more than the metrics
    outcome = "pruned" if type(err).__name__ == "TrialPruned" else "failed"
    tracking.set_tags(client, run_id, {"outcome": outcome, "error": repr(err)[:500]})
    client.set_terminated(run_id, "KILLED" if outcome == "pruned" else "FAILED")


def _train(
    cfg: RunConfig,
    task: Task,
    client,
    run_id,
    logger,
    callbacks,
    progress: bool,
    label,
    resume: bool = False,
) -> RunResult:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task)
    bar = show_bar(progress)
    module.show_progress = bar
    if module.per_window:
        data: TaskData = WindowedData(
            task, cfg.seed, cfg.train.batch_size, cfg.train.val_size, cfg.train.tbptt
        )
    else:
        data = TaskData(task, cfg.seed, cfg.train.batch_size, cfg.train.val_size)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(tmp) / "artifacts"  # callbacks write their artifacts under here
        art.mkdir()
        cbs: list = [*instrument_callbacks(cfg, art), *task_callbacks(cfg, task, data)]
        cbs.extend(callbacks or [])
        if not bar:
            cbs.append(ValidationLines(label or cfg.name, task.metric))
        ckpt = ckpt_path = None
        if client is not None and (cfg.train.checkpoint_every or resume):
            folder = Path(tmp) / "checkpoint"
            ckpt = RunCheckpoint(
                cfg.train.checkpoint_every, folder, data, publisher(client, run_id)
            )
            cbs.insert(0, ckpt)  # first: a checkpoint is taken before any callback starts a step
            if resume:
                ckpt_path = fetch(client, run_id, Path(tmp) / "resume")
        trainer = make_trainer(cfg, logger, cbs, bar)
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
        result = finish(cfg, task, module, data, trainer)
        for cb in cbs:  # callbacks may contribute final metrics and tags (e.g. a curriculum)
            result.metrics.update(getattr(cb, "final_metrics", dict)())
            result.tags.update(getattr(cb, "final_tags", dict)())
        result.seconds = time.perf_counter() - t0 + (ckpt.earlier_seconds if ckpt else 0.0)
        result.run_id = run_id
        if client is not None:
            final = {**result.metrics, "time/seconds": result.seconds}
            logger.log_metrics(final, step=int(trainer.global_step))
            logger.flush()
            tags = {"outcome": result.outcome, **result.tags}
            if result.reason:
                tags["diverged_reason"] = result.reason
            tracking.set_tags(client, run_id, tags)
            (art / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
            for cb in cbs:  # e.g. the gradient-time matrices, written once training is over
                getattr(cb, "save", lambda: None)()
            client.log_artifacts(run_id, str(art))
            from rnnstudy.reporting.run_figures import log_run_figures  # matplotlib: lazily

            # figures/*.png for the MLflow UI, from the arrays just logged (no download back)
            log_run_figures(run_id, client, local=art)
            client.set_terminated(run_id, "FINISHED")
    return result


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


class _Repeat(IterableDataset):
    """Each batch of ``stream`` ``times(batch)`` times in a row."""

    def __init__(self, stream, times: Callable[[Batch], int]):
        self.stream, self.times = stream, times

    def __iter__(self):
        for batch in self.stream:
            for _ in range(self.times(batch)):
                yield batch


class WindowedData(TaskData):
    """TBPTT per_window: every sequence batch once per update window (module docstring)."""

    def __init__(self, task: Task, seed: int, batch_size: int, val_size: int, k: int):
        super().__init__(task, seed, batch_size, val_size)
        self.k = k

    def train_dataloader(self) -> DataLoader:
        base = super().train_dataloader()

        def times(batch: Batch) -> int:
            return len(update_windows(batch, self.k, self.task.readout))

        return DataLoader(_Repeat(base.dataset, times), batch_size=None, collate_fn=base.collate_fn)


def finish(
    cfg: RunConfig, task: Task, module: SequenceModule, data: TaskData, trainer
) -> RunResult:
    """Outcome and final metrics after training (DESIGN §4: solved / unsolved / diverged)."""
    metrics: dict[str, float] = {}
    if module.diverged:
        outcome = "diverged"
    else:
        final = module.evaluate_batch(data.val)
        metrics = {"final/" + k.split("/", 1)[1]: v for k, v in final.items()}
        if not math.isfinite(final["val/loss"]):
            module.diverged, module.diverged_reason = True, "final validation loss not finite"
            outcome = "diverged"
        else:
            if module.steps_to_solve is None and task.solved(final):
                module.steps_to_solve = int(trainer.global_step)
            outcome = "solved" if module.steps_to_solve is not None else "unsolved"
    metrics["final/steps"] = float(trainer.global_step)
    metrics["final/diverged"] = float(outcome == "diverged")
    metrics["final/solved"] = float(outcome == "solved")
    if module.steps_to_solve is not None:
        metrics["steps_to_solve"] = float(module.steps_to_solve)
    return RunResult(cfg, outcome, metrics, module.steps_to_solve, reason=module.diverged_reason)
