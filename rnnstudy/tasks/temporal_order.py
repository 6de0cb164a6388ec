"""Temporal order problem (Hochreiter & Schmidhuber 1997; Pascanu et al. 2013)."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from rnnstudy.tasks.base import Batch, Task, one_hot
from rnnstudy.tasks.facts import TaskFacts, register


class TemporalOrderTask(TaskFacts):
    name: Literal["temporal_order"] = "temporal_order"
    L: Annotated[int, Field(ge=10)] = 50
    solved_threshold: ClassVar[float | None] = 0.99

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @property
    def chance_metric(self) -> float:
        return 0.25

    @property
    def memoryless_loss(self) -> float:
        return math.log(4)


@register
class TemporalOrder(Task):
    """Classify the order of two relevant symbols hidden among distractors.

    Six one-hot symbols: ``0 = 'A'``, ``1 = 'B'``, ``2..5`` distractors (``input_size = 6``).
    Every step is a random distractor except one relevant symbol (A or B) at a position in
    ``[floor(0.1L), floor(0.2L))`` and another in ``[floor(0.5L), floor(0.6L))``. The class at
    the last step is ``2*first + second``: AA=0, AB=1, BA=2, BB=3 (``output_size = 4``).

    Worked example (``L=10``: windows ``[1, 2)`` and ``[5, 6)``)::

        t      0  1  2  3  4  5  6  7  8  9
        x      3  B  5  2  2  A  4  3  5  2
        y      BA = 2

    ``y`` is (B,) long; ``mask``/``eval_mask`` all True (B,); ``meta['positions']`` is (B, 2)
    long, the two relevant positions; ``meta['source']`` is (B,) long, the first relevant
    position (the first informative input, read by the gradient summaries): ``1`` above.

    Chance: accuracy 0.25, ``chance_loss = ln 4``. Solved: fewer than 1% misclassified,
    i.e. ``val/acc >= 0.99`` (Pascanu et al. test on 10,000 fresh sequences).
    """

    config = TemporalOrderTask

    def __init__(self, cfg: TemporalOrderTask) -> None:
        L = cfg.L
        # integer floors: exact, unlike math.floor(0.1 * L) in floating point
        self.window1 = (L // 10, (2 * L) // 10)
        self.window2 = ((5 * L) // 10, (6 * L) // 10)
        if self.window1[0] >= self.window1[1] or self.window2[0] >= self.window2[1]:
            raise ValueError(f"task.L must be >= 10 so both windows are non-empty (got {L})")
        self.cfg = cfg
        self.input_size = 6
        self.output_size = 4
        self.seq_len = L

    def generate(self, seed: int, n: int) -> Batch:
        import torch

        g = self.generator(seed)
        L = self.seq_len
        tokens = torch.randint(2, 6, (n, L), generator=g)
        p1 = torch.randint(*self.window1, (n,), generator=g)
        p2 = torch.randint(*self.window2, (n,), generator=g)
        s1 = torch.randint(0, 2, (n,), generator=g)
        s2 = torch.randint(0, 2, (n,), generator=g)
        positions = torch.stack([p1, p2], dim=1)
        tokens.scatter_(1, positions, torch.stack([s1, s2], dim=1))
        y = 2 * s1 + s2
        mask = torch.ones(n, dtype=torch.bool)
        meta = {"positions": positions, "source": p1.clone()}
        return Batch(one_hot(tokens, 6), y, mask, mask.clone(), meta)
