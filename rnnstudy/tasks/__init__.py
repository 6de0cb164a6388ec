"""Task generators (DESIGN §2): pure functions of (config, seed).

``build_task(cfg)`` turns a task config (``rnnstudy.config.*Task``) into a :class:`Task`.
"""

from __future__ import annotations

from rnnstudy.tasks.adding import Adding
from rnnstudy.tasks.base import Batch, Task, one_hot
from rnnstudy.tasks.charlm import CharLM
from rnnstudy.tasks.copy import Copy
from rnnstudy.tasks.copy_bai import CopyBai
from rnnstudy.tasks.delayed_recall import DelayedRecall
from rnnstudy.tasks.qa_distance import QADistance
from rnnstudy.tasks.temporal_order import TemporalOrder

TASKS: dict[str, type[Task]] = {
    "copy": Copy,
    "delayed_recall": DelayedRecall,
    "qa_distance": QADistance,
    "adding": Adding,
    "temporal_order": TemporalOrder,
    "charlm": CharLM,
    "copy_bai": CopyBai,
}


def build_task(cfg) -> Task:
    """The task for a task config, dispatching on ``cfg.name``; ValueError if unknown."""
    name = getattr(cfg, "name", None)
    if name not in TASKS:
        raise ValueError(f"task.name: unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return TASKS[name](cfg)


__all__ = [
    "TASKS",
    "Adding",
    "Batch",
    "CharLM",
    "Copy",
    "DelayedRecall",
    "QADistance",
    "Task",
    "TemporalOrder",
    "build_task",
    "one_hot",
]
