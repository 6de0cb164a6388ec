"""Copy memory task (Arjovsky et al. 2016; Henaff et al. 2016; DESIGN §2.1)."""

from __future__ import annotations

import torch

from rnnstudy import config
from rnnstudy.tasks.base import Batch, one_hot
from rnnstudy.tasks.distance import DistanceTask


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

    kind = "classification"
    metric = "val/acc"
    higher_is_better = True

    def __init__(self, cfg: config.CopyTask) -> None:
        self.cfg = cfg
        self.A, self.K = cfg.A, cfg.K
        self.d_min, self.d_max = cfg.d_min, cfg.d_max
        self.blank = 0
        self.delimiter = self.A + 1
        self.input_size = self.A + 2
        self.output_size = self.A + 1
        self.seq_len = self.K + self.d_max

    def generate(self, seed: int, n: int, d_range: tuple[int, int] | None = None) -> Batch:
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
