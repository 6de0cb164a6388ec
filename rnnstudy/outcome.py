"""The outcome of a run (DESIGN §4: solved / unsolved / diverged) and its final metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rnnstudy.config import RunConfig
from rnnstudy.data import TaskData
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import Task


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


def finish(
    cfg: RunConfig, task: Task, module: SequenceModule, data: TaskData, trainer
) -> RunResult:
    """Outcome and final metrics after training: a last validation on the whole validation
    set decides solved / unsolved unless the run diverged."""
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
