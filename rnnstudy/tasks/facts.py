"""What every task's config is (DESIGN §2), and the registry of tasks.

A task is one module of ``rnnstudy.tasks`` holding its config class (a :class:`TaskFacts`
subclass: its knobs, validated, and its facts: ``metric`` (the validation metric that decides
"solved"), ``higher_is_better``, ``solved_threshold``, ``chance_metric`` (that metric at chance),
``memoryless_loss`` (the loss of the best predictor that ignores the input history),
``readout``, ``has_distances`` and, for the core tasks (:class:`DistanceFacts`), ``buckets()``)
and its generator (a ``rnnstudy.tasks.base.Task`` subclass whose ``config`` is that class),
registered with :func:`register`. ``rnnstudy.tasks`` imports every module of the package, so
the registry, the task names, the core-task list and the config union (``rnnstudy.config``)
come from what is defined.

Everything here, and every config class, is torch-free: the report reads a run's facts from its
config without importing training code, and the generators import torch inside their methods.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import Field

from rnnstudy import horizon
from rnnstudy.typed import PositiveInt, Strict

T = TypeVar("T", bound=type)

# name -> (config class, generator class), in registration order (rnnstudy.tasks sorts it)
REGISTRY: dict[str, tuple[type[TaskFacts], type]] = {}


def register(generator: T) -> T:
    """Class decorator of a task generator: registers it under its config's ``name`` (the
    ``Literal`` default of the config class in its ``config`` attribute)."""
    cfg: type[TaskFacts] = generator.config  # type: ignore[attr-defined]
    name = cfg.model_fields["name"].default
    if name in REGISTRY and REGISTRY[name][1] is not generator:
        raise ValueError(f"task {name!r} is registered twice: {REGISTRY[name][1]} and {generator}")
    REGISTRY[name] = (cfg, generator)
    return generator


class TaskFacts(Strict):
    metric: ClassVar[str] = "val/acc"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float | None] = None  # None: no solved criterion (charlm)

    @property
    def readout(self) -> Literal["per_step", "last"]:
        """Where the targets sit: ``last`` (many-to-one: one target at the last step) or
        ``per_step`` (many-to-many). Decides which models the task admits (bidirectional)."""
        return "per_step"

    @property
    def has_distances(self) -> bool:
        return False

    @property
    def chance_metric(self) -> float:
        raise NotImplementedError

    @property
    def memoryless_loss(self) -> float:
        raise NotImplementedError

    def solved(self, metrics: dict[str, float]) -> bool:
        """The solved criterion on validation metrics (``{"val/acc": 0.995}`` -> True)."""
        if self.solved_threshold is None:
            return False
        v = metrics.get(self.metric, float("nan"))
        return v >= self.solved_threshold if self.higher_is_better else v < self.solved_threshold


class DistanceFacts(TaskFacts):
    """A core task (DESIGN §2.1): ``d`` is drawn per example from ``[d_min, d_max]``.

    ``curriculum: grow`` trains on ``[d_min, d_start]`` first and widens the upper end by
    ``grow_factor`` each time validation accuracy on the current range reaches the solved
    threshold, up to ``d_max`` (rnnstudy.curriculum); validation always spans the whole range.
    """

    d_min: PositiveInt = 2
    d_max: PositiveInt = 40
    n_buckets: PositiveInt = 5
    curriculum: Literal["none", "grow"] = "none"
    d_start: PositiveInt | None = None  # grow: first upper end; None = min(d_max, d_min + 8)
    grow_factor: Annotated[float, Field(gt=1)] = 1.5

    @property
    def has_distances(self) -> bool:
        return True

    @property
    def start(self) -> int:
        """The first upper end of the training range under ``curriculum: grow``."""
        return min(self.d_max, self.d_start if self.d_start is not None else self.d_min + 8)

    def buckets(self) -> list[tuple[int, int]]:
        return horizon.buckets(self.d_min, self.d_max, self.n_buckets)

    def _check_range(self, lowest: int, why: str) -> None:
        if self.d_min < lowest:
            raise ValueError(f"task.d_min must be >= {lowest} ({why}; got {self.d_min})")
        if self.d_max < self.d_min:
            raise ValueError(f"task.d_max must be >= d_min = {self.d_min} (got {self.d_max})")
        if self.d_start is not None and not self.d_min <= self.d_start <= self.d_max:
            raise ValueError(
                f"task.d_start must lie in [d_min, d_max] = [{self.d_min}, {self.d_max}]"
                f" (got {self.d_start})"
            )
