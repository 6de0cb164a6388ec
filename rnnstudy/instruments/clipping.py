"""Gradient clipping, in exactly one place, measured before and after.

Called from ``SequenceModule.configure_gradient_clipping``, which Lightning runs after
``backward()`` and ``on_before_optimizer_step`` and right before ``optimizer.step()``: clipping
can never run on gradients that do not exist yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass
class ClipStats:
    pre: float  # total L2 norm of all parameter gradients before clipping
    post: float  # ... after clipping
    clipped: bool  # did clipping change any gradient?

    @property
    def finite(self) -> bool:
        return math.isfinite(self.pre)


def total_norm(grads: list[torch.Tensor]) -> float:
    if not grads:
        return 0.0
    return float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    )


@torch.no_grad()
def clip_gradients(params: Iterable[torch.nn.Parameter], mode: str, value: float) -> ClipStats:
    """Clip in place. mode: "none", "norm" (rescale to total norm ≤ value) or "value"
    (clamp every entry to [-value, value])."""
    grads = [p.grad for p in params if p.grad is not None]
    pre = total_norm(grads)
    if mode == "none" or not math.isfinite(pre):
        return ClipStats(pre, pre, False)
    if mode == "norm":
        if pre <= value:
            return ClipStats(pre, pre, False)
        scale = value / (pre + 1e-6)
        for g in grads:
            g.mul_(scale)
        return ClipStats(pre, total_norm(grads), True)
    if mode == "value":
        clipped = any(bool((g.abs() > value).any()) for g in grads)
        if not clipped:
            return ClipStats(pre, pre, False)
        for g in grads:
            g.clamp_(-value, value)
        return ClipStats(pre, total_norm(grads), True)
    raise ValueError(f"clip.mode: unknown mode {mode!r}; allowed: none, norm, value")
