"""The LightningModule: loss, masking, truncated BPTT, clipping, metrics, divergence.

The pure ``nn.Module`` lives in ``rnnstudy.models``; data in ``rnnstudy.data``; instruments are
callbacks in ``rnnstudy.instruments`` that read what this module exposes:

* ``capture`` (set by the gradient-time probe before a step): keep each layer's input/output
  and the immediate gradient reaching each layer's output, per TBPTT window (``captured``);
* ``last_clip`` (a ``ClipStats``): pre/post-clip norms of the step just taken;
* ``diverged``: a non-finite loss or gradient was seen; training stops, the run is recorded
  ``outcome=diverged``.

Truncated BPTT (``train.tbptt: k``, DESIGN §7). The windows are aligned to END at the sequence
end, so the last window (the one that holds a many-to-one target) is a full ``k`` steps and the
first one is the short one: ``windows(10, 4) == [(0, 2), (2, 6), (6, 10)]``. Every window starts
from the previous window's final state, detached: no gradient crosses a window boundary. Two
modes (``train.tbptt_mode``):

* ``per_sequence`` (default): *per-sequence gradient truncation*. The loss is the mean over the
  whole sequence's masked targets; each window's gradient is taken on its own and the window
  gradients are summed; one optimizer update per sequence. One training step = one sequence.
* ``per_window``: *per-window updates*, classic TBPTT as in min-char-rnn: carry the state, one
  optimizer update after each window, on that window's mean loss. Each window that holds a
  loss term is its own training step (the runner's ``WindowedData`` hands every sequence batch
  to the module once per such window), so clipping (``configure_gradient_clipping``, after
  backward, one place), the gradient-norm instruments, ``max_steps`` and ``val_every`` all
  count updates. Windows with no loss term (the leading windows of a many-to-one task) are run
  forward without a graph inside the next step that has one: with a single target at the end,
  per_window and per_sequence take the same update.

  Probes (per_window). A probe asked for at any update of a sequence is taken at that
  sequence's last update (the last window: a full ``k`` steps, the same length at every
  probe), or at the run's last step (``max_steps``) if that comes first, so a probe on the
  schedule is never lost (one taken there sees that update's window). What it measures: the
  per-time-step gradient is that update's, by definition per window (zero outside the window:
  no gradient crosses its boundary); the propagation profile and the Lyapunov exponents
  describe the network at the probe (the weights of that update, before its optimizer step)
  driven through the whole sequence, from a fresh no-grad forward (``probe_trajectory``). The
  carried states were computed under the weights before this sequence's earlier updates and
  describe no single network.

Worked example: copy with L=10, k=4, a loss at every step. per_sequence: 1 step, gradient =
Σ over windows (0,2), (2,6), (6,10) of ∂(Σ window losses / 10)/∂θ, each window cut from the
state before it. per_window: 3 steps; step 1 on mean loss of t∈[0,2), step 2 on t∈[2,6) from
the (detached) state after step 1's forward, step 3 on t∈[6,10).
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
    """Spans of ``k`` steps covering ``length``, aligned to end at the sequence end (the first
    span is the short one); one span without TBPTT.

    >>> windows(10, 4)
    [(0, 2), (2, 6), (6, 10)]
    >>> windows(8, 4), windows(5, None), windows(5, 9)
    ([(0, 4), (4, 8)], [(0, 5)], [(0, 5)])
    """
    if k is None or k >= length:
        return [(0, length)]
    ends = range(length, 0, -k)
    return [(max(0, b - k), b) for b in reversed(ends)]


def update_windows(batch: Batch, k: int | None, readout: str) -> list[int]:
    """Indices (into ``windows``) of the windows that hold a loss term: one per-window update
    each. A last-step readout has its target in the last window only."""
    L = batch.x.shape[1]
    spans = windows(L, k)
    if readout == "last":
        return [len(spans) - 1]
    keep = [i for i, (a, b) in enumerate(spans) if bool(batch.mask[:, a:b].any())]
    return keep or [len(spans) - 1]  # a batch without any target still takes one (empty) step


# Plain attributes written every step (by this module, the instruments and Lightning's hook
# dispatch, which sets ``_current_fx_name`` around every hook call: ~40 writes a step). None is
# ever a parameter, buffer or submodule, so they skip ``nn.Module.__setattr__``'s checks.
_PLAIN = frozenset(
    {
        "_current_fx_name",
        "capture",
        "captured",
        "last_clip",
        "last_loss",
        "_update",
        "_state",
        "_done_to",
        "_probe_due",
        "_probe_x",
    }
)


class SequenceModule(pl.LightningModule):
    def __setattr__(self, name: str, value) -> None:
        if name in _PLAIN:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __init__(self, cfg: RunConfig, task: Task):
        super().__init__()
        self.cfg, self.task = cfg, task
        self.model = RecurrentNet(cfg.model, task.input_size, task.output_size, task.readout)
        self.automatic_optimization = True
        self.per_window = cfg.train.tbptt is not None and cfg.train.tbptt_mode == "per_window"
        self.capture = False
        self.captured: list[Window] = []
        self.last_clip: ClipStats | None = None
        self.diverged = False
        self.diverged_reason = ""
        self.last_loss = float("nan")
        self.val_metrics: dict[str, float] = {}
        self.steps_to_solve: int | None = None
        self.show_progress = False  # set by the runner when a progress bar is on screen
        self._val_outs: list[Tensor] = []
        self._val_batches: list[Batch] = []
        # per_window: where we are in the current sequence (see WindowedData in the runner)
        self._update = 0
        self._state: list | None = None
        self._done_to = 0  # windows[:_done_to] of the current sequence have been run
        self._probe_due = False
        self._probe_x: Tensor | None = None  # per_window: the sequence of the probed update

    @property
    def at_sequence_start(self) -> bool:
        """The next training step begins a new sequence batch (always, except per-window
        TBPTT between the updates of one sequence)."""
        return self._update == 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rnnstudy_module"] = {"steps_to_solve": self.steps_to_solve}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.steps_to_solve = checkpoint.get("rnnstudy_module", {}).get("steps_to_solve")

    def inputs(self, batch: Batch) -> Tensor:
        """``batch.x`` on the model's device and in its dtype (float64 under precision 64)."""
        return batch.x.to(self.device, self.dtype)

    # ------------------------------------------------------------------ training
    def forward_loss(self, batch: Batch, capture: bool = False) -> Tensor:
        """Mean loss over masked targets, with TBPTT windows if configured (per_sequence).

        Each window starts from the previous window's final state, detached: no gradient
        crosses a window boundary. For last-step readout only the final window has a target.
        """
        x = self.inputs(batch)
        L = x.shape[1]
        count = batch.mask.sum().clamp(min=1)
        total = x.new_zeros(())
        state = None
        self.captured = []
        for a, b in windows(L, self.cfg.train.tbptt):
            fwd = self._window(x, a, b, state, capture)
            total = total + self._window_loss(fwd, batch, a, b, L)
            state = detach_state(fwd.state)
        return total / count

    def _window(self, x: Tensor, a: int, b: int, state: list | None, capture: bool):
        fwd = self.model(x[:, a:b], state)
        if capture:
            win = Window(a, fwd.inputs, fwd.layers, state, [None] * len(fwd.layers))
            for i, h in enumerate(fwd.layers):
                h.register_hook(_store(win.grads, i))
            self.captured.append(win)
        return fwd

    def _window_loss(self, fwd, batch: Batch, a: int, b: int, L: int) -> Tensor:
        """Summed loss of the targets inside window [a, b)."""
        if self.task.readout == "last":
            if b == L:
                return loss_sum(self.task, fwd.out, batch.y, batch.mask)
            return fwd.out.new_zeros(())
        return loss_sum(self.task, fwd.out, batch.y[:, a:b], batch.mask[:, a:b])

    def window_step_loss(self, batch: Batch) -> Tensor:
        """per_window: the loss of this sequence's next update window (mean over its targets).

        The runner hands the same sequence batch once per update window; windows without a
        loss term before it are run forward without a graph, carrying the state.
        """
        x = self.inputs(batch)
        L = x.shape[1]
        spans = windows(L, self.cfg.train.tbptt)
        todo = update_windows(batch, self.cfg.train.tbptt, self.task.readout)
        if self._update == 0:
            self._state, self._done_to, self._probe_due = None, 0, False
        j = todo[self._update]
        last = self._update == len(todo) - 1
        self._update = 0 if last else self._update + 1
        with torch.no_grad():
            for a, b in spans[self._done_to : j]:
                self._state = self.model(x[:, a:b], self._state).state
        # a probe asked for anywhere in this sequence looks at its last update, or at the
        # run's last step if max_steps cuts the sequence off first
        self._probe_due = self._probe_due or self.capture
        self.capture = self._probe_due and (last or self._last_step_of_run())
        self.captured = []
        self._probe_x = x if self.capture else None
        a, b = spans[j]
        fwd = self._window(x, a, b, self._state, self.capture)
        self._state, self._done_to = detach_state(fwd.state), j + 1
        if self.task.readout == "last":
            count = batch.mask.sum()
        else:
            count = batch.mask[:, a:b].sum()
        return self._window_loss(fwd, batch, a, b, L) / count.clamp(min=1)

    def _last_step_of_run(self) -> bool:
        """This update is the run's last (``max_steps``; False outside a trainer)."""
        trainer = self._trainer
        if trainer is None or trainer.max_steps is None or trainer.max_steps < 0:
            return False
        return self.global_step >= trainer.max_steps - 1

    @torch.no_grad()
    def probe_trajectory(self) -> list[Window] | None:
        """The trajectory for the loss-independent instruments at a probe: None when the
        captured windows are it (full BPTT, per_sequence: one forward under one set of
        weights); per_window, the probed sequence run forward from the zero state under the
        current weights (the weights of the probed update, before its optimizer step)."""
        if not self.per_window or self._probe_x is None:
            return None
        fwd = self.model(self._probe_x)
        return [Window(0, fwd.inputs, fwd.layers, None, [None] * len(fwd.layers))]

    def training_step(self, batch: Batch, batch_idx: int):
        if self.per_window:
            loss = self.window_step_loss(batch)
        else:
            loss = self.forward_loss(batch, capture=self.capture)
        self.last_loss = float(loss.detach())
        if not math.isfinite(self.last_loss):
            self._diverge(f"loss became {self.last_loss} at step {self.global_step}")
            return None
        if self.show_progress:  # ~0.5 ms a step: only when a bar is on screen
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
        if o.name == "rmsprop":
            kw["alpha"] = o.alpha
        return OPTIMIZERS[o.name](self.parameters(), **kw)

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: Batch, batch_idx: int):
        out = self.model(self.inputs(batch)).out
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
        if self.show_progress:
            self.log("val", self.val_metrics[self.task.metric], prog_bar=True, logger=False)

    @torch.no_grad()
    def evaluate_batch(self, batch: Batch) -> dict[str, float]:
        was = self.training
        self.eval()
        out = self.model(self.inputs(batch)).out
        self.train(was)
        return {f"val/{k}": v for k, v in evaluate(self.task, out, batch.to(self.device)).items()}


def _store(slots: list, i: int):
    def hook(g: Tensor) -> None:
        slots[i] = g if slots[i] is None else slots[i] + g

    return hook
