"""Losses and validation metrics from model outputs: pure functions, no Lightning.

Classification: masked mean cross-entropy; accuracy over ``eval_mask`` (copy: the last K
steps). The core tasks add accuracy per distance bucket and the memory horizon. Regression
(adding): MSE. charlm: bits per character.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnstudy import horizon
from rnnstudy.tasks import Batch, Task


def loss_sum(task: Task, out: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Sum of per-target losses over masked targets (divide by the count for the mean)."""
    if task.kind == "regression":
        err = (out.squeeze(-1) - y) ** 2
        return (err * mask).sum()
    ce = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="none")
    return (ce * mask.reshape(-1)).sum()


@torch.no_grad()
def evaluate(task: Task, out: Tensor, batch: Batch) -> dict[str, float]:
    """Validation metrics, keyed by their MLflow names without the ``val/`` prefix."""
    n = batch.mask.sum().clamp(min=1)
    loss = float(loss_sum(task, out, batch.y, batch.mask) / n)
    m: dict[str, float] = {"loss": loss}
    if task.kind == "regression":
        m["mse"] = loss
        return m
    pred = out.argmax(-1)
    correct = (pred == batch.y) & batch.eval_mask
    m["acc"] = float(correct.sum() / batch.eval_mask.sum().clamp(min=1))
    if task.metric == "val/bpc":
        m["bpc"] = loss / math.log(2)
    if task.cfg.has_distances and "distance" in batch.meta:
        m.update(by_distance(task, correct, batch))
    return m


def by_distance(task: Task, correct: Tensor, batch: Batch) -> dict[str, float]:
    """``acc_by_distance/<upper edge>`` per bucket and ``memory_horizon`` (rnnstudy.horizon).
    ``correct`` is (B,) for a many-to-one task, (B, L) masked by ``eval_mask`` for copy."""
    right = correct.reshape(len(batch), -1).sum(1)
    total = batch.eval_mask.reshape(len(batch), -1).sum(1)
    edges = task.cfg.buckets()
    per = horizon.accuracy_by_bucket(
        batch.meta["distance"].cpu().numpy(), right.cpu().numpy(), total.cpu().numpy(), edges
    )
    m = {f"{horizon.BY_DISTANCE}{hi}": acc for hi, acc in per.items()}
    m[horizon.HORIZON] = float(horizon.memory_horizon(per, [hi for _, hi in edges]).value)
    return m
