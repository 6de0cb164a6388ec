"""Copy memory task (Arjovsky et al. 2016; Henaff et al. 2016; DESIGN §2)."""

from __future__ import annotations

import math

import torch

from rnnstudy import config
from rnnstudy.tasks.base import Batch, Task, one_hot


class Copy(Task):
    """Remember ``K`` symbols across a gap of ``T`` steps, then write them out.

    Tokens: ``0`` = blank, ``1..A`` = symbols, ``A+1`` = delimiter, so ``input_size = A+2``.
    Outputs are classes ``0..A`` (blank + the ``A`` symbols), so ``output_size = A+1`` and a
    symbol's class id equals its token id. Sequence length ``T + 2K``:

    * positions ``0..K-1``: the ``K`` random symbols,
    * positions ``K..T+K-2``: ``T-1`` blanks,
    * position ``T+K-1``: the delimiter,
    * positions ``T+K..T+2K-1``: ``K`` blanks, during which the target repeats the symbols.

    Worked example (``A=3, K=2, T=4``; length 8, delimiter ``4``)::

        t      0  1  2  3  4  5  6  7
        x      2  3  0  0  0  4  0  0
        y      0  0  0  0  0  0  2  3
        eval   .  .  .  .  .  .  *  *

    ``mask`` is all True (the loss covers every step, as in the papers); ``eval_mask`` marks the
    last ``K`` steps only (recall accuracy).

    Chance: the best memoryless predictor outputs blank with certainty for the first ``T+K``
    steps and a uniform guess over the ``A`` symbols for the last ``K``, so
    ``chance_loss = K ln(A) / (T+2K)`` (``10 ln 8 / (T+20)`` at the defaults) and recall
    accuracy at chance is ``1/A``. Solved: ``val/acc >= 0.99``.
    """

    kind = "classification"
    readout = "per_step"
    metric = "val/acc"
    higher_is_better = True
    solved_threshold = 0.99

    def __init__(self, cfg: config.CopyTask) -> None:
        self.cfg = cfg
        self.A, self.K, self.T = cfg.A, cfg.K, cfg.T
        self.blank = 0
        self.delimiter = self.A + 1
        self.input_size = self.A + 2
        self.output_size = self.A + 1
        self.seq_len = self.T + 2 * self.K

    def generate(self, seed: int, n: int) -> Batch:
        g = self.generator(seed)
        A, K, T, L = self.A, self.K, self.T, self.seq_len
        symbols = torch.randint(1, A + 1, (n, K), generator=g)
        tokens = torch.zeros(n, L, dtype=torch.long)
        tokens[:, :K] = symbols
        tokens[:, T + K - 1] = self.delimiter
        y = torch.zeros(n, L, dtype=torch.long)
        y[:, T + K :] = symbols
        mask = torch.ones(n, L, dtype=torch.bool)
        eval_mask = torch.zeros(n, L, dtype=torch.bool)
        eval_mask[:, T + K :] = True
        return Batch(one_hot(tokens, self.input_size), y, mask, eval_mask)

    @property
    def chance_loss(self) -> float:
        return self.K * math.log(self.A) / self.seq_len

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    def solved(self, metrics: dict[str, float]) -> bool:
        return metrics.get(self.metric, float("nan")) >= self.solved_threshold
