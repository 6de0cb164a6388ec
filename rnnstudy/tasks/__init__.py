"""Tasks (DESIGN §2): each one module of this package holding its config class (with the task's
facts) and its generator, a pure function of (config, seed).

Importing the package imports every module in it, so each task registers itself
(``rnnstudy.tasks.facts.register``); everything below is built from that registry, never listed
by hand:

* ``TASKS`` (name -> generator class) and ``TASK_CONFIGS`` (name -> config class), in the order
  of ``TASK_NAMES``: the core tasks (DESIGN §2.1, a distance per example: config classes
  derived from ``DistanceFacts``) first, then the others, each group by name;
* ``CORE_TASKS``, the names of the core tasks;
* ``TaskConfig``, the union of the config classes discriminated by ``name`` (``RunConfig.task``).

``build_task(cfg)`` turns a task config into its :class:`Task`. Nothing here imports torch
(the generators import it inside their methods), so ``rnnstudy.config`` stays torch-free.
"""

from __future__ import annotations

import importlib
import operator
import pkgutil
from functools import reduce
from typing import Annotated, Any

from pydantic import Field

from rnnstudy.tasks.base import Batch, Task, one_hot
from rnnstudy.tasks.facts import REGISTRY, DistanceFacts, TaskFacts

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")


def _order(name: str) -> tuple[bool, str]:
    return (not issubclass(REGISTRY[name][0], DistanceFacts), name)


TASK_NAMES: tuple[str, ...] = tuple(sorted(REGISTRY, key=_order))
CORE_TASKS: tuple[str, ...] = tuple(
    n for n in TASK_NAMES if issubclass(REGISTRY[n][0], DistanceFacts)
)
TASK_CONFIGS: dict[str, type[TaskFacts]] = {n: REGISTRY[n][0] for n in TASK_NAMES}
TASKS: dict[str, type[Task]] = {n: REGISTRY[n][1] for n in TASK_NAMES}
TaskConfig = Annotated[  # type: ignore[valid-type]
    reduce(operator.or_, TASK_CONFIGS.values()), Field(discriminator="name")
]


def build_task(cfg: Any) -> Task:
    """The task for a task config, dispatching on ``cfg.name``; ValueError if unknown."""
    name = getattr(cfg, "name", None)
    if name not in TASKS:
        raise ValueError(f"task.name: unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return TASKS[name](cfg)


__all__ = [
    "CORE_TASKS",
    "TASKS",
    "TASK_CONFIGS",
    "TASK_NAMES",
    "Batch",
    "DistanceFacts",
    "Task",
    "TaskConfig",
    "TaskFacts",
    "build_task",
    "one_hot",
]
