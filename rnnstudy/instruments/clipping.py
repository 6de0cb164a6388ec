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
from typing import Any

import torch
from torch import Tensor

from rnnstudy.instruments.base import Instrument, Metrics, Rows
from rnnstudy.models.recurrent import param_label

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


class GradNorms(Instrument):
    """Instrument ``gradnorms``, every training step: the record's ``ClipStats`` (one fused
    pass in ``clip_gradients``; nothing recomputed) as ``grad/norm_preclip``,
    ``grad/norm_postclip``, ``grad/clipped``, the running ``grad/clip_rate``, per-parameter
    norms ``grad/param/<name>`` and ``train/loss``, logged every ``log_every`` steps (the clip
    rate counts every step). Always on (``train.log_every``).

    A step without gradients (the loss was not finite, so Lightning ran no backward but still
    called the clipping hook) logs no gradient figures and does not count in the clip rate.
    """

    name = "gradnorms"

    def __init__(self, log_every: int = 1):
        super().__init__(1, False)
        self.log_every = log_every
        self.steps = 0
        self.clipped = 0
        self._labels: list[str] | None = None  # metric names, parameter order, all with grads

    @classmethod
    def from_config(cls, cfg: Any) -> GradNorms:
        return cls(cfg.train.log_every)

    def _param_metrics(self, model: Any, norms: list[float]) -> Metrics:
        if self._labels is None or len(self._labels) != len(norms):
            named = model.named_parameters()
            self._labels = [f"grad/param/{param_label(n)}" for n, p in named if p.grad is not None]
        return dict(zip(self._labels, norms, strict=True))

    def measure(self, record: Any) -> tuple[Metrics, Rows | None]:
        stats = record.clip
        if stats is None or not stats.has_grads or not record.backward_ran:
            return {}, None  # no backward happened: no figures, not a step of the rate
        self.steps += 1
        self.clipped += int(stats.clipped)
        if record.step % self.log_every:
            return {}, None
        m = {
            "train/loss": record.loss,
            "grad/norm_preclip": stats.pre,
            "grad/norm_postclip": stats.post,
            "grad/clipped": float(stats.clipped),
            "grad/clip_rate": self.clipped / self.steps,
        }
        if stats.norms:
            m.update(self._param_metrics(record.model, stats.norms))
        return m, None

    def state_dict(self) -> dict[str, Any]:
        """The clip-rate counters (a checkpoint, rnnstudy.checkpoint)."""
        return {"steps": self.steps, "clipped": self.clipped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.steps, self.clipped = int(state_dict["steps"]), int(state_dict["clipped"])
