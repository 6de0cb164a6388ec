"""Lightning's own per-step cost: the floor under any harness built on its ``Trainer``.

A module whose step is one tiny linear layer (so the step's arithmetic is negligible), trained
by ``pl.Trainer`` with no logger, no callbacks, no progress bar and gradient clipping by norm,
against the same module, optimiser and clipping in a hand-written loop. The difference per step
is what Lightning's loop (hooks, closure, optimiser wrapper, profiler contexts) adds whatever
the model. At tour size the steady-state target (rnnstudy ≥ 0.95× plain) leaves
0.05/0.95 of the plain step for *all* of the harness: 0.22 ms at the smallest point (rnn, copy,
4.2 ms a step), so a floor above that makes the target unreachable there while training goes
through the ``Trainer``.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset


class _Same(IterableDataset):
    def __init__(self, x: torch.Tensor):
        self.x = x

    def __iter__(self):
        while True:
            yield self.x


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def _data() -> DataLoader:
    return DataLoader(_Same(torch.randn(8, 4)), batch_size=None)


def _plain(steps: int) -> float:
    m = _Tiny()
    opt = m.configure_optimizers()
    it = iter(_data())
    t0 = time.process_time()
    for i in range(steps):
        loss = m.training_step(next(it), i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    return (time.process_time() - t0) / steps


def _lightning(steps: int) -> float:
    trainer = pl.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        gradient_clip_val=1.0,
        accelerator="cpu",
        devices=1,
    )
    t0 = time.process_time()
    trainer.fit(_Tiny(), _data())
    return (time.process_time() - t0) / steps


def lightning_floor(steps: int = 2000, rounds: int = 3) -> dict[str, Any]:
    """Seconds per step (CPU clock) of the plain loop and of the Trainer, alternated
    ``rounds`` times; medians and their difference."""
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    _plain(50), _lightning(50)  # warm
    plain, lightning = [], []
    for _ in range(rounds):
        plain.append(_plain(steps))
        lightning.append(_lightning(steps))
    p, q = statistics.median(plain), statistics.median(lightning)
    return {"steps": steps, "plain": p, "lightning": q, "floor": q - p}
