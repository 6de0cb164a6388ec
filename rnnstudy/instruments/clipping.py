"""Gradient clipping, in exactly one place, measured before and after.

Called from ``SequenceModule.configure_gradient_clipping``, which Lightning runs after
``backward()`` and ``on_before_optimizer_step`` and right before ``optimizer.step()``: clipping
can never run on gradients that do not exist yet.

All norms come from one fused pass (``torch._foreach_norm``) and one device-to-host copy; the
per-parameter norms before clipping are kept in ``ClipStats.norms`` so that the ``GradNorms``
callback logs them without a second pass over the gradients.

A step with no gradients at all (Lightning still calls the clipping hook when the loss was not
finite and ``training_step`` returned None) has undefined norms: ``pre = post = NaN``,
``has_grads = False``, never a fake 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

NAN = float("nan")


@dataclass
class ClipStats:
    pre: float  # total L2 norm of all parameter gradients before clipping (NaN: no gradients)
    post: float  # ... after clipping
    clipped: bool  # did clipping change any gradient?
    norms: list[float] | None = None  # per-parameter norms before clipping, in parameter order
    has_grads: bool = True  # False: no parameter had a gradient (the norms are undefined)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.pre)


def _norms(grads: list[Tensor]) -> Tensor:
    """Per-tensor L2 norms in one fused pass, as one (n,) tensor."""
    return torch.stack(torch._foreach_norm(grads))


def total_norm(grads: list[Tensor]) -> float:
    """L2 norm of all the tensors together; NaN for an empty list (undefined, not 0)."""
    if not grads:
        return NAN
    return float(torch.linalg.vector_norm(_norms(grads)))


@torch.no_grad()
def clip_gradients(params: Iterable[torch.nn.Parameter], mode: str, value: float) -> ClipStats:
    """Clip in place. mode: "none", "norm" (rescale to total norm ≤ value) or "value"
    (clamp every entry to [-value, value])."""
    if mode not in ("none", "norm", "value"):
        raise ValueError(f"clip.mode: unknown mode {mode!r}; allowed: none, norm, value")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return ClipStats(NAN, NAN, False, [], has_grads=False)
    per = _norms(grads)
    total = torch.linalg.vector_norm(per)
    if mode == "value":
        peak = torch.stack(torch._foreach_norm(grads, ord=math.inf)).max()
        values = torch.cat([total.view(1), peak.view(1), per]).tolist()  # one host copy
        pre, norms, clipped = values[0], values[2:], values[1] > value
    else:
        values = torch.cat([total.view(1), per]).tolist()
        pre, norms, clipped = values[0], values[1:], mode == "norm" and values[0] > value
    if not math.isfinite(pre) or not clipped:
        return ClipStats(pre, pre, False, norms)
    if mode == "norm":
        torch._foreach_mul_(grads, value / (pre + 1e-6))
    else:
        torch._foreach_clamp_min_(grads, -value)
        torch._foreach_clamp_max_(grads, value)
    return ClipStats(pre, total_norm(grads), True, norms)
