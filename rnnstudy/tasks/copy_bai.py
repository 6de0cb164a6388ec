"""Copy memory in Bai, Kolter & Koltun's (2018) format (locuslab/TCN, copy_memory/utils.py).

It differs from ``copy`` (Arjovsky et al.'s format, one-hot inputs, a single delimiter) in two
ways: the marker ``A+1`` is repeated over the last ``K+1`` inputs (the delimiter and every
recall step), and the input is one real channel holding the digit's value, not a one-hot code.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from rnnstudy.tasks.base import Batch, Task
from rnnstudy.tasks.facts import TaskFacts, register
from rnnstudy.typed import PositiveInt


class CopyBaiTask(TaskFacts):
    """Copy memory in Bai et al. 2018's format (rnnstudy.tasks.copy_bai): the marker repeated
    over the last ``K+1`` inputs, each digit fed as one scalar channel; length ``T + 2K``."""

    name: Literal["copy_bai"] = "copy_bai"
    T: PositiveInt = 1000
    K: PositiveInt = 10
    A: Annotated[int, Field(ge=2)] = 8
    solved_threshold: ClassVar[float | None] = 0.99

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        return self.K * math.log(self.A) / (self.T + 2 * self.K)


@register
class CopyBai(Task):
    """``K`` digits in ``1..A``, ``T-1`` zeros, then the marker ``A+1`` for ``K+1`` steps;
    the target is ``0`` everywhere except the last ``K`` steps, which repeat the digits.

    Length ``T + 2K`` (their ``n_steps = T + 2*seq_len``, copymem_test.py:58). Inputs are
    (B, T+2K, 1) float32 digit values (utils.py:20; fed with ``x.unsqueeze(1)``, one channel);
    targets (B, T+2K) long in ``0..A+1`` (``output_size = A+2``: their ``n_classes = 10``).

    Worked example (``A=8, K=2, T=3``; length 7, marker 9)::

        t      0  1  2  3  4  5  6
        x      5  2  0  0  9  9  9
        y      0  0  0  0  0  5  2
        eval   .  .  .  .  .  *  *

    ``mask`` is all True (their loss is the cross-entropy over every step); ``eval_mask`` marks
    the last ``K`` steps (recall accuracy). ``meta['source']`` is ``0`` (the first digit).

    Chance: the best memoryless predictor sees the marker from the step before the recall, so
    it outputs ``0`` with certainty everywhere else and guesses uniformly over ``A`` digits in
    the recall: ``chance_loss = K ln(A) / (T + 2K)`` (``10 ln 8 / 1020 ≈ 0.0204`` at T=1000,
    Bai et al.'s baseline), recall accuracy ``1/A``. Solved: ``val/acc >= 0.99``.
    """

    config = CopyBaiTask

    def __init__(self, cfg: CopyBaiTask) -> None:
        self.cfg = cfg
        self.A, self.K, self.T = cfg.A, cfg.K, cfg.T
        self.marker = self.A + 1
        self.input_size = 1
        self.output_size = self.A + 2
        self.seq_len = self.T + 2 * self.K

    def generate(self, seed: int, n: int) -> Batch:
        import torch

        g = self.generator(seed)
        A, K, T, L = self.A, self.K, self.T, self.seq_len
        digits = torch.randint(1, A + 1, (n, K), generator=g)
        x = torch.zeros(n, L)
        x[:, :K] = digits.to(torch.float32)
        x[:, T + K - 1 :] = float(self.marker)  # the last K+1 inputs
        y = torch.zeros(n, L, dtype=torch.long)
        y[:, T + K :] = digits
        mask = torch.ones(n, L, dtype=torch.bool)
        eval_mask = torch.zeros(n, L, dtype=torch.bool)
        eval_mask[:, T + K :] = True
        meta = {"source": torch.zeros(n, dtype=torch.long)}
        return Batch(x.unsqueeze(2), y, mask, eval_mask, meta)
