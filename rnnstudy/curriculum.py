"""Task-side callbacks of a run: the distance schedule of DESIGN §2.1 and the horizon tag.

``task.curriculum: grow`` trains on ``[d_min, start]`` first; after each validation it measures
accuracy on the validation examples *inside the current training range*, and when that reaches
the task's solved threshold the range's upper end is widened (``hi -> ceil(hi * grow_factor)``,
at most ``d_max``). The validation set always spans ``[d_min, d_max]``. The learnable horizon
``final/learned_d_max`` is the largest upper end solved (0 if none; ``d_max`` as soon as the
whole validation set is solved).

Worked example (``d_min=2, d_start=10, d_max=40, grow_factor=1.5``): the range is [2, 10]
until validation on d <= 10 is solved, then [2, 15], [2, 23], [2, 35], [2, 40]; a run that
solves [2, 23] but never [2, 35] ends with ``learned_d_max = 23``.

The horizon growth curve: ``train/learned_d_max`` (the solved upper end) is logged at every step
where it grows, beside ``train/d_max`` (the upper end of the range being trained on). For each
bucket of the task (labelled by its upper edge ``d``), ``final/steps_to/<d>`` is the first
training step at which the solved upper end reached ``d``; a bucket never reached within the
budget is *censored*: its key is not logged (no fake finite value), and readers count it as
"not reached by ``train.max_steps``".

Every core-task run also gets the tag ``horizon_capped`` (true/false): its horizon
(``learned_d_max`` under ``grow``, else the final memory horizon) reached ``d_max``.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl

from rnnstudy import horizon
from rnnstudy.config import RunConfig
from rnnstudy.data import TaskData
from rnnstudy.tasks import Task


def next_upper(hi: int, factor: float, d_max: int) -> int:
    """The widened upper end: ``ceil(hi * factor)`` (at least ``hi + 1``), never past d_max."""
    return min(d_max, max(hi + 1, math.ceil(hi * factor)))


def _tag(capped: bool) -> dict[str, str]:
    return {"horizon_capped": "true" if capped else "false"}


class DistanceSchedule(pl.Callback):
    """``curriculum: grow``: widens ``data.d_range`` after each solved validation."""

    def __init__(self, task: Task, data: TaskData):
        cfg = task.cfg
        self.task, self.data = task, data
        self.d_min, self.d_max, self.factor = cfg.d_min, cfg.d_max, cfg.grow_factor
        self.hi = cfg.start
        self.learned = 0
        self.reached: dict[int, int] = {}  # bucket upper edge -> first step with learned >= it
        self.edges = [hi for _, hi in cfg.buckets()]
        self.data.d_range = (self.d_min, self.hi)
        self._logged_hi: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._log_range(trainer)
        if trainer.logger is not None and trainer.global_step == 0:
            trainer.logger.log_metrics({"train/learned_d_max": 0.0}, step=0)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or pl_module.diverged:
            return
        before = self.learned
        if self.task.solved(pl_module.val_metrics):  # the whole range: nothing left to grow
            self.learned, self.hi = self.d_max, self.d_max
        elif self.task.solved(self.accuracy_in_range(pl_module)):
            self.learned = max(self.learned, self.hi)
            self.hi = next_upper(self.hi, self.factor, self.d_max)
        self.data.d_range = (self.d_min, self.hi)
        if self.learned > before:
            self._grew(trainer)
        self._log_range(trainer)

    def _grew(self, trainer) -> None:
        step = trainer.global_step
        for d in self.edges:
            if d <= self.learned:
                self.reached.setdefault(d, step)
        if trainer.logger is not None:
            trainer.logger.log_metrics({"train/learned_d_max": float(self.learned)}, step=step)

    def accuracy_in_range(self, pl_module) -> dict[str, float]:
        """Validation metrics on the validation examples with ``d <= hi``."""
        val = self.data.val
        rows = (val.meta["distance"] <= self.hi).nonzero().flatten().tolist()
        if not rows:
            return {}
        return pl_module.evaluate_batch(val.take(rows))

    def _log_range(self, trainer) -> None:
        if self.hi != self._logged_hi and trainer.logger is not None:
            trainer.logger.log_metrics({"train/d_max": float(self.hi)}, step=trainer.global_step)
            self._logged_hi = self.hi

    def state_dict(self) -> dict:
        """What a checkpoint keeps (rnnstudy.checkpoint): range, learned, reached."""
        return {"hi": self.hi, "learned": self.learned, "reached": dict(self.reached),
                "logged_hi": self._logged_hi}  # fmt: skip

    def load_state_dict(self, state_dict: dict) -> None:
        self.hi, self.learned = int(state_dict["hi"]), int(state_dict["learned"])
        self.reached = {int(d): int(s) for d, s in state_dict["reached"].items()}
        self._logged_hi = state_dict["logged_hi"]
        self.data.d_range = (self.d_min, self.hi)

    def final_metrics(self) -> dict[str, float]:
        out = {f"final/{horizon.LEARNED}": float(self.learned)}
        out.update({f"final/{horizon.STEPS_TO}{d}": float(s) for d, s in self.reached.items()})
        return out

    def final_tags(self) -> dict[str, str]:
        return _tag(self.learned >= self.d_max)


class HorizonTag(pl.Callback):
    """``curriculum: none``: tags ``horizon_capped`` from the final memory horizon (the same
    validation set and model as the runner's final metrics)."""

    def __init__(self, task: Task, data: TaskData):
        self.task, self.data = task, data
        self.module = None

    def on_fit_end(self, trainer, pl_module) -> None:
        self.module = pl_module

    def final_tags(self) -> dict[str, str]:
        if self.module is None or self.module.diverged:
            return _tag(False)
        m = self.module.evaluate_batch(self.data.val)
        value = m.get(f"val/{horizon.HORIZON}", math.nan)
        return _tag(value >= self.task.cfg.d_max)


def task_callbacks(cfg: RunConfig, task: Task, data: TaskData) -> list[pl.Callback]:
    """The callbacks a task config asks for: the distance schedule or the horizon tag."""
    if not cfg.task.has_distances:
        return []
    if cfg.task.curriculum == "grow":
        return [DistanceSchedule(task, data)]
    return [HorizonTag(task, data)]
