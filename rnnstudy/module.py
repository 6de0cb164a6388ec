"""The LightningModule: loss, masking, truncated BPTT, clipping, metrics, divergence.

The pure ``nn.Module`` lives in ``rnnstudy.models``; data in ``rnnstudy.data``; instruments are
callbacks in ``rnnstudy.instruments`` that read what this module exposes:

* ``capture`` (set by the gradient-time probe before a step): keep each layer's input/output
  and the immediate gradient reaching each layer's output, per TBPTT window (``captured``);
* ``last_clip`` (a ``ClipStats``): pre/post-clip norms of the step just taken;
* ``diverged``: a non-finite loss or gradient was seen; training stops, the run is recorded
  ``outcome=diverged``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
from torch import Tensor

from rnnstudy.config import RunConfig
from rnnstudy.instruments.clipping import ClipStats, clip_gradients
from rnnstudy.metrics import evaluate, loss_sum
from rnnstudy.models import RecurrentNet, detach_state
from rnnstudy.tasks import Batch, Task

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


@dataclass
class Window:
    """One TBPTT window of a captured step (the whole sequence without TBPTT)."""

    start: int
    inputs: list[Tensor]
    outputs: list[Tensor]
    state0: list | None
    grads: list[Tensor | None] = field(default_factory=list)


def windows(length: int, k: int | None) -> list[tuple[int, int]]:
    """[(0, k), (k, 2k), ...] covering ``length``; one window without TBPTT."""
    if k is None or k >= length:
        return [(0, length)]
    return [(a, min(a + k, length)) for a in range(0, length, k)]


class SequenceModule(pl.LightningModule):
    def __init__(self, cfg: RunConfig, task: Task):
        super().__init__()
        self.cfg, self.task = cfg, task
        self.model = RecurrentNet(cfg.model, task.input_size, task.output_size, task.readout)
        self.automatic_optimization = True
        self.capture = False
        self.captured: list[Window] = []
        self.last_clip: ClipStats | None = None
        self.diverged = False
        self.diverged_reason = ""
        self.last_loss = float("nan")
        self.val_metrics: dict[str, float] = {}
        self.steps_to_solve: int | None = None
        self._val_outs: list[Tensor] = []
        self._val_batches: list[Batch] = []

    # ------------------------------------------------------------------ training
    def forward_loss(self, batch: Batch, capture: bool = False) -> Tensor:
        """Mean loss over masked targets, with TBPTT windows if configured.

        Each window starts from the previous window's final state, detached: no gradient
        crosses a window boundary. For last-step readout only the final window has a target.
        """
        x, L = batch.x, batch.x.shape[1]
        spans = windows(L, self.cfg.train.tbptt)
        count = batch.mask.sum().clamp(min=1)
        total = x.new_zeros(())
        state = None
        self.captured = []
        for a, b in spans:
            fwd = self.model(x[:, a:b], state)
            if capture:
                win = Window(a, fwd.inputs, fwd.layers, state, [None] * len(fwd.layers))
                for i, h in enumerate(fwd.layers):
                    h.register_hook(_store(win.grads, i))
                self.captured.append(win)
            if self.task.readout == "last":
                if b == L:
                    total = total + loss_sum(self.task, fwd.out, batch.y, batch.mask)
            else:
                total = total + loss_sum(self.task, fwd.out, batch.y[:, a:b], batch.mask[:, a:b])
            state = detach_state(fwd.state)
        return total / count

    def training_step(self, batch: Batch, batch_idx: int):
        loss = self.forward_loss(batch, capture=self.capture)
        self.last_loss = float(loss.detach())
        if not math.isfinite(self.last_loss):
            self._diverge(f"loss became {self.last_loss} at step {self.global_step}")
            return None
        trainer = self._trainer
        if trainer is not None and trainer.progress_bar_callback is not None:  # ~0.5 ms a step
            self.log("loss", loss.detach(), prog_bar=True, logger=False, on_step=True)
        return loss

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ):
        stats = clip_gradients(self.parameters(), self.cfg.clip.mode, self.cfg.clip.value)
        self.last_clip = stats
        if not stats.finite:
            self._diverge(f"gradient norm became {stats.pre} at step {self.global_step}")
            optimizer.zero_grad(set_to_none=True)  # the step then changes nothing

    def _diverge(self, reason: str) -> None:
        if not self.diverged:
            self.diverged, self.diverged_reason = True, reason
        self.trainer.should_stop = True

    def configure_optimizers(self):
        o = self.cfg.optim
        kw: dict = {"lr": o.lr, "weight_decay": o.weight_decay}
        if o.name in ("sgd", "rmsprop"):
            kw["momentum"] = o.momentum
        return OPTIMIZERS[o.name](self.parameters(), **kw)

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: Batch, batch_idx: int):
        out = self.model(batch.x).out
        self._val_outs.append(out)
        self._val_batches.append(batch)

    def on_validation_epoch_end(self) -> None:
        if not self._val_outs:
            return
        out = torch.cat(self._val_outs)
        b = self._val_batches
        batch = Batch(
            torch.cat([v.x for v in b]),
            torch.cat([v.y for v in b]),
            torch.cat([v.mask for v in b]),
            torch.cat([v.eval_mask for v in b]),
            {k: torch.cat([v.meta[k] for v in b]) for k in b[0].meta},
        )
        self._val_outs, self._val_batches = [], []
        self.record_validation(evaluate(self.task, out, batch))

    def record_validation(self, metrics: dict[str, float]) -> None:
        self.val_metrics = {f"val/{k}": v for k, v in metrics.items()}
        step = int(self.global_step)
        if not math.isfinite(self.val_metrics["val/loss"]):
            self._diverge(f"validation loss became {self.val_metrics['val/loss']} at step {step}")
        if self.steps_to_solve is None and self.task.solved(self.val_metrics):
            self.steps_to_solve = step
            self.val_metrics["steps_to_solve"] = float(step)
            if self.cfg.train.stop_when_solved:
                self.trainer.should_stop = True
        if self.logger is not None:
            self.logger.log_metrics(self.val_metrics, step=step)
        self.log("val", self.val_metrics[self.task.metric], prog_bar=True, logger=False)

    @torch.no_grad()
    def evaluate_batch(self, batch: Batch) -> dict[str, float]:
        was = self.training
        self.eval()
        out = self.model(batch.x.to(self.device)).out
        self.train(was)
        return {f"val/{k}": v for k, v in evaluate(self.task, out, batch.to(self.device)).items()}


def _store(slots: list, i: int):
    def hook(g: Tensor) -> None:
        slots[i] = g if slots[i] is None else slots[i] + g

    return hook
