"""Long runs survive interruption: checkpoints in the run's artifacts, resumed in the same run.

``train.checkpoint_every: N`` adds ``RunCheckpoint`` to a recorded run (``run_one``). At the
start of the first training step at or after each multiple of N (per-window TBPTT: the first
such step that begins a new sequence), before any other callback has touched that step, it

1. flushes the run's buffered metrics: every point logged before the checkpoint is in the
   store before the checkpoint exists;
2. saves the Lightning checkpoint (``trainer.save_checkpoint``): model, optimiser, the loops'
   counters (global step, validation schedule), the module's own state (``steps_to_solve``)
   and the ``state_dict`` of every stateful callback: this one (the position in the training
   stream and the distance ranges of the batches already drawn ahead of it, the RNG states
   of torch, numpy and Python, the training seconds so far) and the distance schedule
   (range, learned, reached); the module adds its instruments' driver
   (``rnnstudy.instruments.driver.Instruments.state_dict``: the rows behind
   ``gradtime/*.npz`` etc. and their steps, the probe's random generator, each instrument's
   own state such as the clip-rate counters of ``gradnorms``);
3. logs it to the MLflow run as ``checkpoints/last.ckpt`` (the run's artifact folder: a
   resume on any machine that reaches the same store finds it) and tags the run
   ``checkpoint_step=<S>``.

A checkpoint at step S describes the run between two steps: step S taken, the validation at S
(if any) done and recorded, step S+1 not begun. Only plain types and tensors are saved, so it
loads with ``weights_only=True`` (no pickled code runs when a shared store's checkpoint is read).

``rnnstudy experiment FILE --resume`` continues every unfinished child run of the parent that
has a ``checkpoint_step`` tag (``rnnstudy.resume.resumable``): ``run_one(resume_run=RUN_ID)``
sets that run RUNNING again (``reopen_run``), downloads its checkpoint (``fetch``) and hands it
to ``trainer.fit(ckpt_path=...)``; the run ends FINISHED like any other. A child without a
checkpoint is still marked KILLED and its point run afresh.

**No step logged twice.** Points logged after the last checkpoint may or may not have reached
the store before the kill (the buffer flushes on its own schedule; a failing run flushes before
it is marked FAILED). Each metric key is logged at non-decreasing steps and the buffer is sent
in logging order, so the store holds, per key, exactly the points up to some step. The resumed
run's logger gets that step per key (``tracking.last_steps``) and drops every point at or below
it: the dropped points are exactly those already stored (the resumed run recomputes the same
values). A checkpoint that cannot be read (say, a kill during its upload) is ignored with a
warning: the run restarts from step 0 in the same MLflow run, and the same rule keeps its
histories free of duplicates.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from rnnstudy import tracking
from rnnstudy.data import TaskData
from rnnstudy.mlflow_logger import BufferedMLflowLogger

log = logging.getLogger("rnnstudy")

CKPT_DIR = "checkpoints"
CKPT_NAME = "last.ckpt"
CKPT_ARTIFACT = f"{CKPT_DIR}/{CKPT_NAME}"
STEP_TAG = tracking.CHECKPOINT_TAG

Publish = Callable[[Path, int], None]


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch, CUDA, numpy, Python) as plain types and tensors."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class RunCheckpoint(pl.Callback):
    """Saves the checkpoint every ``every`` steps (None: never; still restores a resumed run's
    stream position and RNG) into ``folder`` and hands it to ``publish(path, step)``."""

    def __init__(self, every: int | None, folder: Path, data: TaskData, publish: Publish):
        self.every, self.folder, self.data, self.publish = every, Path(folder), data, publish
        self.sequences = 0  # training sequences consumed: where the stream resumes
        self.saved = 0  # the step of the last checkpoint
        self.earlier_seconds = 0.0  # training seconds before this session (a resumed run)
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.at_sequence_start:  # per-window TBPTT: the sequence's last update is done
            self.sequences += 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every is None or step // self.every <= self.saved // self.every:
            return
        if pl_module.at_sequence_start:
            self.checkpoint(trainer, step)

    def checkpoint(self, trainer: pl.Trainer, step: int) -> Path:
        flush = getattr(trainer.logger, "flush", None)
        if flush is not None:
            flush()  # first: what was logged before the checkpoint is stored before it exists
        self.saved = step
        self.folder.mkdir(parents=True, exist_ok=True)
        path, part = self.folder / CKPT_NAME, self.folder / f"{CKPT_NAME}.part"
        trainer.save_checkpoint(part)
        part.replace(path)
        self.publish(path, step)
        return path

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """The checkpoint is taken between two steps, but Lightning has already counted the
        next batch *ready* (fetched) when ``on_train_batch_start`` runs; a restart resets only
        the per-epoch count, so the total (which schedules validation) would run one batch
        ahead. Both counts are saved as they stand between steps (ready = completed), which
        Lightning restores as a run stopped after a step and its validation."""
        progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]
        for part in ("total", "current"):
            progress[part]["ready"] = progress[part]["completed"]

    def seconds(self) -> float:
        """Training seconds of the whole run (earlier sessions up to their checkpoint too)."""
        return self.earlier_seconds + time.perf_counter() - self._t0

    def state_dict(self) -> dict[str, Any]:
        drawn = {i: r for i, r in self.data.train.ranges.items() if i >= self.sequences}
        return {
            "sequences": self.sequences,
            "ranges": drawn,  # batches drawn ahead, with the distance range they were drawn with
            "saved": self.saved,
            "seconds": self.seconds(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.sequences, self.saved = int(state_dict["sequences"]), int(state_dict["saved"])
        self.data.train.start = self.sequences  # the stream's iterator is made after this
        self.data.train.ranges = dict(state_dict["ranges"])
        self.earlier_seconds, self._t0 = float(state_dict["seconds"]), time.perf_counter()
        set_rng_state(state_dict["rng"])


def publisher(client: Any, run_id: str) -> Publish:
    """Log a saved checkpoint to the run (``checkpoints/last.ckpt``), then tag its step."""

    def publish(path: Path, step: int) -> None:
        tracking.log_artifact(client, run_id, path, CKPT_DIR)
        tracking.set_tags(client, run_id, {STEP_TAG: step})

    return publish


def fetch(client: Any, run_id: str, folder: Path) -> Path | None:
    """The run's checkpoint, downloaded into ``folder``; None (and a warning) if it has none or
    it cannot be read."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(client.download_artifacts(run_id, CKPT_ARTIFACT, str(folder)))
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        log.warning("run %s: no readable checkpoint (%s); restarting it from step 0", run_id, err)
        return None
    return path


def reopen_run(client: Any, run_id: str, tags: dict[str, Any]) -> BufferedMLflowLogger:
    """Set an interrupted run RUNNING again; its logger drops points the store already holds."""
    run = tracking.get_run(client, run_id)
    client.update_run(run_id, status="RUNNING")
    if "error" in run.data.tags:  # the error of an earlier, interrupted attempt
        client.delete_tag(run_id, "error")
    tracking.set_tags(client, run_id, {**tags, "outcome": "running", "resumed": "true"})
    return BufferedMLflowLogger(client, run_id, skip_to=tracking.last_steps(client, run_id))
