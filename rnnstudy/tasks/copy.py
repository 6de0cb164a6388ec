"""Copy memory task (Arjovsky et al. 2016; Henaff et al. 2016; DESIGN §2.1)."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from rnnstudy.tasks.base import Batch, one_hot
from rnnstudy.tasks.distance import DistanceTask
from rnnstudy.tasks.facts import DistanceFacts, register
from rnnstudy.typed import PositiveInt


class CopyTask(DistanceFacts):
    """``K`` symbols of ``A``, a gap, a delimiter, ``K`` recall steps; ``d = gap + K``.
    ``T`` is the older fixed-gap form: ``T: 30`` means ``d_min = d_max = T + K``."""

    name: Literal["copy"] = "copy"
    A: Annotated[int, Field(ge=2)] = 8
    K: PositiveInt = 3
    T: PositiveInt | None = None
    d_min: PositiveInt = 4
    d_max: PositiveInt = 20
    solved_threshold: ClassVar[float | None] = 0.99

    @model_validator(mode="before")
    @classmethod
    def _fixed_gap(cls, data: Any) -> Any:
        if isinstance(data, dict):
            T, K = data.get("T"), data.get("K", 3)
            if isinstance(T, int) and isinstance(K, int) and T > 0 and K > 0:
                data = {"d_min": T + K, "d_max": T + K, **data}
        return data

    @model_validator(mode="after")
    def _ranges(self) -> CopyTask:
        if self.T is not None and not self.d_min == self.d_max == self.T + self.K:
            raise ValueError(
                f"task.T is the fixed-gap form (d_min = d_max = T + K = {self.T + self.K});"
                f" give either T or d_min/d_max (got d_min={self.d_min}, d_max={self.d_max})"
            )
        self._check_range(self.K + 1, "a gap of at least one step: d = gap + K")
        return self

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        """``K ln A`` per example over its ``K + d`` unpadded steps, pooled over the batch:
        ``K ln(A) / (K + mean d)`` (the loss is the mean over every non-padding step)."""
        return self.K * math.log(self.A) / (self.K + (self.d_min + self.d_max) / 2)


@register
class Copy(DistanceTask):
    """Remember ``K`` symbols for ``d`` steps, then write them out in order.

    Tokens: ``0`` = blank, ``1..A`` = symbols, ``A+1`` = delimiter, so ``input_size = A+2``.
    Outputs are classes ``0..A`` (blank + the ``A`` symbols; a symbol's class id equals its
    token id), ``output_size = A+1``. Every example has length ``L = K + d_max``; one with
    distance ``d`` (drawn per example from ``[d_min, d_max]``) fills its last ``K + d`` steps:

    * ``L-K-d .. L-d-1``: the ``K`` random symbols (``meta['source']`` = ``L-K-d``),
    * then ``d-K-1`` blanks and the delimiter at ``L-K-1`` (a gap of ``d-K`` steps),
    * ``L-K .. L-1``: ``K`` blanks, during which the target repeats the symbols,

    so symbol ``i`` is recalled exactly ``d`` steps after it was shown (``d = gap + K``).
    The first ``L-K-d`` steps are left padding (blanks, ``mask`` False there).

    Worked example (``A=3, K=2, d_min=4, d_max=6``; ``L=8``, delimiter ``4``), ``d=5``::

        t      0  1  2  3  4  5  6  7
        x      0  2  3  0  0  4  0  0
        y      0  0  0  0  0  0  2  3
        mask   .  *  *  *  *  *  *  *
        eval   .  .  .  .  .  .  *  *       source = 1, distance = 5

    The loss covers every unpadded step (as in the papers); ``eval_mask`` marks the ``K``
    recall steps (recall accuracy). ``T`` (the older fixed gap) means ``d_min = d_max = T+K``.

    Chance: the best memoryless predictor is certain of the blank before the recall and
    guesses uniformly over the ``A`` symbols during it: ``K ln A`` per example over its
    ``K + d`` steps, so ``chance_loss = K ln(A) / (K + mean d)`` (pooled over a batch) and
    recall accuracy at chance is ``1/A``. Solved: ``val/acc >= 0.99``.
    """

    config = CopyTask

    def __init__(self, cfg: CopyTask) -> None:
        self.cfg = cfg
        self.A, self.K = cfg.A, cfg.K
        self.d_min, self.d_max = cfg.d_min, cfg.d_max
        self.blank = 0
        self.delimiter = self.A + 1
        self.input_size = self.A + 2
        self.output_size = self.A + 1
        self.seq_len = self.K + self.d_max

    def generate(self, seed: int, n: int, d_range: tuple[int, int] | None = None) -> Batch:
        import torch

        g = self.generator(seed)
        A, K, L = self.A, self.K, self.seq_len
        symbols = torch.randint(1, A + 1, (n, K), generator=g)
        d = self.draw_distances(g, n, d_range)
        source = L - K - d
        rows = torch.arange(n)[:, None]
        tokens = torch.zeros(n, L, dtype=torch.long)
        tokens[rows, source[:, None] + torch.arange(K)] = symbols
        tokens[:, L - K - 1] = self.delimiter
        y = torch.zeros(n, L, dtype=torch.long)
        y[:, L - K :] = symbols
        mask = torch.arange(L)[None, :] >= source[:, None]
        eval_mask = torch.zeros(n, L, dtype=torch.bool)
        eval_mask[:, L - K :] = True
        meta = {"distance": d, "source": source}
        return Batch(one_hot(tokens, self.input_size), y, mask, eval_mask, meta)
