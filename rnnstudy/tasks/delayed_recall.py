"""Delayed recall: output the symbol seen ``D`` steps ago (DESIGN §2)."""

from __future__ import annotations

import math

import torch

from rnnstudy import config
from rnnstudy.tasks.base import Batch, Task, one_hot


class DelayedRecall(Task):
    """A stream of ``L`` random symbols in ``0..A-1``; at every step ``t >= D`` output the
    symbol seen at ``t - D`` (synced many-to-many). Steps ``t < D`` have nothing to recall:
    their target is ``0`` and ``mask`` is False there. ``input_size = output_size = A``.

    Worked example (``A=4, D=2, L=6``)::

        t      0  1  2  3  4  5
        x      3  1  0  2  2  1
        y      -  -  3  1  0  2      (- : masked, stored as 0)

    Chance: the next target is a fresh uniform symbol for a memoryless predictor, so
    ``chance_loss = ln(A)`` and accuracy ``1/A``. Solved: ``val/acc >= 0.99``.
    """

    kind = "classification"
    readout = "per_step"
    metric = "val/acc"
    higher_is_better = True
    solved_threshold = 0.99

    def __init__(self, cfg: config.DelayedRecallTask) -> None:
        if cfg.L <= cfg.D:
            raise ValueError(f"task.L must be > D = {cfg.D} (got {cfg.L})")
        self.cfg = cfg
        self.A, self.D = cfg.A, cfg.D
        self.input_size = self.output_size = self.A
        self.seq_len = cfg.L

    def generate(self, seed: int, n: int) -> Batch:
        g = self.generator(seed)
        D, L = self.D, self.seq_len
        tokens = torch.randint(0, self.A, (n, L), generator=g)
        y = torch.zeros(n, L, dtype=torch.long)
        y[:, D:] = tokens[:, : L - D]
        mask = torch.zeros(n, L, dtype=torch.bool)
        mask[:, D:] = True
        return Batch(one_hot(tokens, self.A), y, mask, mask.clone())

    @property
    def chance_loss(self) -> float:
        return math.log(self.A)

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    def solved(self, metrics: dict[str, float]) -> bool:
        return metrics.get(self.metric, float("nan")) >= self.solved_threshold
