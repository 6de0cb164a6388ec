"""Task-side callbacks of a run (the distance schedule of DESIGN §2.1 lives here)."""

from __future__ import annotations

import pytorch_lightning as pl

from rnnstudy.config import RunConfig
from rnnstudy.data import TaskData
from rnnstudy.tasks import Task


def task_callbacks(cfg: RunConfig, task: Task, data: TaskData) -> list[pl.Callback]:
    """The callbacks a task config asks for (none yet)."""
    return []
