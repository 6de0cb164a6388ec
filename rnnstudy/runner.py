"""Run one configuration: build task, model, data, instruments, train, record in MLflow.

This is the single training loop of the project: ``rnnstudy run``, every grid point of
``rnnstudy experiment`` and every Optuna trial of ``rnnstudy sweep`` go through ``run_one``.
Its parts, one job each: ``rnnstudy.trainer`` (the Lightning Trainer; imported first, it
defers ``scipy.signal``), ``rnnstudy.data`` (the data module), ``rnnstudy.instruments`` (the
driver of the instruments the config switches on), ``rnnstudy.lifecycle`` (the MLflow run),
``rnnstudy.outcome`` (solved / unsolved / diverged and the final metrics).
"""

# ruff: noqa: I001  (rnnstudy.trainer first: it imports Lightning behind the scipy stand-in)
from __future__ import annotations

from rnnstudy.trainer import ValidationLines, make_trainer, quiet_lightning, show_bar

import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from rnnstudy import instruments
from rnnstudy.checkpoint import RunCheckpoint, fetch, publisher
from rnnstudy.config import RunConfig
from rnnstudy.curriculum import task_callbacks
from rnnstudy.data import WindowedData, make_data
from rnnstudy.lifecycle import close_run, open_run, record_failure, run_tags
from rnnstudy.module import SequenceModule
from rnnstudy.outcome import RunResult, finish
from rnnstudy.tasks import Task, build_task

__all__ = [
    "RunResult",
    "WindowedData",
    "finish",
    "make_trainer",
    "quiet_lightning",
    "run_one",
    "run_tags",
]


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
        client, run_id, logger = open_run(cfg, experiment, parent_id, extra_tags, resume_run)
    try:
        return _train(
            cfg, task, client, run_id, logger, callbacks, progress, label, resume_run is not None
        )
    except BaseException as err:
        if client is not None:
            record_failure(client, run_id, logger, err)
        raise


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
    bar = show_bar(progress)
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(tmp) / "artifacts"  # the instruments write their arrays under here
        art.mkdir()
        driver = instruments.from_config(cfg, art)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        module = SequenceModule(cfg, task, driver)  # the model's init draws from the seed
        module.show_progress = bar
        data = make_data(cfg, task)
        t0 = time.perf_counter()
        cbs: list = [*task_callbacks(cfg, task, data), *(callbacks or [])]
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
            savers = [driver.save, *(getattr(cb, "save", None) for cb in cbs)]
            step = int(trainer.global_step)
            close_run(client, run_id, logger, result, step, art, [s for s in savers if s])
    return result
