"""The LightningModule: loss, masking, truncated BPTT, clipping, metrics, divergence.

The pure ``nn.Module`` lives in ``rnnstudy.models``; data in ``rnnstudy.data``. Instruments
(``rnnstudy.instruments``) see a training step only through the one read-only step record this
module hands its ``instruments`` driver after backward and clipping, before the optimizer step
(``StepRecord``: the batch, the loss, the clip norms, and when an instrument asked for them the
captured states and ``∂L/∂h_t`` per TBPTT window, or the loss graph). Nothing here is for
instruments to set or clear. ``diverged``: a non-finite loss or gradient was seen; training
stops, the run is recorded ``outcome=diverged``.

Truncated BPTT (``train.tbptt: k``, DESIGN §7). The windows are aligned to END at the sequence
end, so the last window (the one that holds a many-to-one target) is a full ``k`` steps and the
first one is the short one: ``windows(10, 4) == [(0, 2), (2, 6), (6, 10)]``. Every window starts
from the previous window's final state, detached: no gradient crosses a window boundary; the
first starts from the network's initial state (``model.initial_state``: zeros, or the learned
h_0, c_0, which then receive the first window's gradient). Two modes (``train.tbptt_mode``):

* ``per_sequence`` (default): *per-sequence gradient truncation*. The loss is the mean over the
  whole sequence's masked targets; each window's gradient is taken on its own and the window
  gradients are summed; one optimizer update per sequence. One training step = one sequence.
* ``per_window``: *per-window updates*, classic TBPTT as in min-char-rnn: carry the state, one
  optimizer update after each window, on that window's mean loss. Each window that holds a
  loss term is its own training step (``rnnstudy.data.WindowedData`` hands every sequence batch
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
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch import Tensor

from rnnstudy.config import RunConfig
from rnnstudy.instruments.clipping import clip_gradients
from rnnstudy.instruments.driver import Instruments
from rnnstudy.instruments.record import StepRecord, Window
from rnnstudy.metrics import evaluate, loss_sum
from rnnstudy.models import RecurrentNet, detach_state
from rnnstudy.tasks import Batch, Task
from rnnstudy.tbptt import update_windows, windows

__all__ = ["SequenceModule", "Window", "update_windows", "windows"]

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


@dataclass
class _Step:
    """What this module keeps of the training step in flight until it hands the record over."""

    batch: Batch
    windows: list[Window]
    asked_at: int | None  # the step whose schedule asked for the windows
    x: Tensor | None = None  # per-window TBPTT: the probed sequence (for the trajectory)
    graph: Tensor | None = None  # the loss, when an instrument needs its graph


# Plain attributes written every step (by this module alone, and by Lightning's hook dispatch,
# which sets ``_current_fx_name`` around every hook call: ~40 writes a step). None is ever a
# parameter, buffer or submodule, so they skip ``nn.Module.__setattr__``'s checks.
_PLAIN = frozenset(
    {"_current_fx_name", "last_loss", "_step", "_update", "_state", "_done_to", "_asked_at"}
)


class SequenceModule(pl.LightningModule):
    def __setattr__(self, name: str, value) -> None:
        if name in _PLAIN:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __init__(self, cfg: RunConfig, task: Task, instruments: Instruments | None = None):
        super().__init__()
        self.cfg, self.task = cfg, task
        self.model = RecurrentNet(cfg.model, task.input_size, task.output_size, task.readout)
        self.automatic_optimization = True
        self.per_window = cfg.train.tbptt is not None and cfg.train.tbptt_mode == "per_window"
        self.instruments = instruments  # the driver the step record goes to (None: none)
        self._step: _Step | None = None
        self.diverged = False
        self.diverged_reason = ""
        self.last_loss = float("nan")
        self.val_metrics: dict[str, float] = {}
        self.steps_to_solve: int | None = None
        self.show_progress = False  # set by the runner when a progress bar is on screen
        self._val_outs: list[Tensor] = []
        self._val_batches: list[Batch] = []
        # per_window: where we are in the current sequence (see rnnstudy.data.WindowedData)
        self._update = 0
        self._state: list | None = None
        self._done_to = 0  # windows[:_done_to] of the current sequence have been run
        self._asked_at: int | None = None  # the first step of this sequence that asked a probe

    @property
    def at_sequence_start(self) -> bool:
        """The next training step begins a new sequence batch (always, except per-window
        TBPTT between the updates of one sequence)."""
        return self._update == 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rnnstudy_module"] = {"steps_to_solve": self.steps_to_solve}
        if self.instruments is not None:
            checkpoint["rnnstudy_instruments"] = self.instruments.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.steps_to_solve = checkpoint.get("rnnstudy_module", {}).get("steps_to_solve")
        if self.instruments is not None and "rnnstudy_instruments" in checkpoint:
            self.instruments.load_state_dict(checkpoint["rnnstudy_instruments"])

    def inputs(self, batch: Batch) -> Tensor:
        """``batch.x`` on the model's device and in its dtype (float64 under precision 64)."""
        return batch.x.to(self.device, self.dtype)

    # ------------------------------------------------------------------ training
    def forward_loss(self, batch: Batch) -> Tensor:
        """Mean loss over masked targets, with TBPTT windows if configured (per_sequence)."""
        return self.forward_capture(batch, capture=False)[0]

    def forward_capture(self, batch: Batch, capture: bool = True) -> tuple[Tensor, list[Window]]:
        """``forward_loss`` and, with ``capture``, each window's layer inputs, outputs, initial
        state and (filled in by the coming backward) immediate gradients.

        Each window starts from the previous window's final state, detached: no gradient
        crosses a window boundary. For last-step readout only the final window has a target.
        """
        x = self.inputs(batch)
        L = x.shape[1]
        count = batch.mask.sum().clamp(min=1)
        total = x.new_zeros(())
        state = None
        wins: list[Window] = []
        for a, b in windows(L, self.cfg.train.tbptt):
            fwd = self._window(x, a, b, state, wins if capture else None)
            total = total + self._window_loss(fwd, batch, a, b, L)
            state = detach_state(fwd.state)
        return total / count, wins

    def _window(self, x: Tensor, a: int, b: int, state: list | None, into: list | None):
        fwd = self.model(x[:, a:b], state)
        if into is not None:
            win = Window(a, fwd.inputs, fwd.layers, state, [None] * len(fwd.layers))
            for i, h in enumerate(fwd.layers):
                h.register_hook(_store(win.grads, i))
            into.append(win)
        return fwd

    def _window_loss(self, fwd, batch: Batch, a: int, b: int, L: int) -> Tensor:
        """Summed loss of the targets inside window [a, b)."""
        if self.task.readout == "last":
            if b == L:
                return loss_sum(self.task, fwd.out, batch.y, batch.mask)
            return fwd.out.new_zeros(())
        return loss_sum(self.task, fwd.out, batch.y[:, a:b], batch.mask[:, a:b])

    def window_step_loss(
        self, batch: Batch, asked_at: int | None = None
    ) -> tuple[Tensor, list[Window], int | None]:
        """per_window: the loss of this sequence's next update window (mean over its targets),
        the captured window (when a probe asked at ``asked_at`` or earlier in this sequence is
        taken now: the sequence's last update, or the run's last step) and the asking step.

        ``WindowedData`` hands the same sequence batch once per update window; windows without
        a loss term before it are run forward without a graph, carrying the state.
        """
        x = self.inputs(batch)
        L = x.shape[1]
        spans = windows(L, self.cfg.train.tbptt)
        todo = update_windows(batch, self.cfg.train.tbptt, self.task.readout)
        if self._update == 0:
            self._state, self._done_to, self._asked_at = None, 0, None
        j = todo[self._update]
        last = self._update == len(todo) - 1
        self._update = 0 if last else self._update + 1
        with torch.no_grad():
            for a, b in spans[self._done_to : j]:
                self._state = self.model(x[:, a:b], self._state).state
        # a probe asked for anywhere in this sequence looks at its last update, or at the
        # run's last step if max_steps cuts the sequence off first
        if self._asked_at is None:
            self._asked_at = asked_at
        capture = self._asked_at is not None and (last or self._last_step_of_run())
        wins: list[Window] = []
        a, b = spans[j]
        fwd = self._window(x, a, b, self._state, wins if capture else None)
        self._state, self._done_to = detach_state(fwd.state), j + 1
        if self.task.readout == "last":
            count = batch.mask.sum()
        else:
            count = batch.mask[:, a:b].sum()
        loss = self._window_loss(fwd, batch, a, b, L) / count.clamp(min=1)
        return loss, wins, self._asked_at if capture else None

    def _last_step_of_run(self) -> bool:
        """This update is the run's last (``max_steps``; False outside a trainer)."""
        trainer = self._trainer
        if trainer is None or trainer.max_steps is None or trainer.max_steps < 0:
            return False
        return self.global_step >= trainer.max_steps - 1

    @torch.no_grad()
    def probe_trajectory(self, x: Tensor) -> tuple[Window, ...]:
        """per_window: the probed sequence ``x`` run forward from the network's initial state
        under the current weights (the weights of the probed update, before its optimizer
        step): the one trajectory the loss-independent instruments read (the captured window is
        one update's; the carried states were computed under earlier weights)."""
        fwd = self.model(x)
        return (Window(0, fwd.inputs, fwd.layers, None, [None] * len(fwd.layers)),)

    def training_step(self, batch: Batch, batch_idx: int):
        step = int(self.global_step)
        drv = self.instruments
        due = drv is not None and drv.capture_due(step)
        if self.per_window:
            loss, wins, asked = self.window_step_loss(batch, step if due else None)
            x = self.inputs(batch) if wins else None
        else:
            loss, wins = self.forward_capture(batch, capture=due)
            asked, x = (step if due else None), None
        keep = drv is not None and drv.graph_due(step)
        self._step = _Step(batch, wins, asked, x, loss if keep else None)
        self.last_loss = float(loss.detach())
        if not math.isfinite(self.last_loss):
            self._diverge(f"loss became {self.last_loss} at step {self.global_step}")
            return None
        if self.show_progress:  # ~0.5 ms a step: only when a bar is on screen
            self.log("loss", loss.detach(), prog_bar=True, logger=False, on_step=True)
        return loss

    def backward(self, loss: Tensor, *args, **kwargs) -> None:
        if self._step is not None and self._step.graph is not None:
            kwargs["retain_graph"] = True  # an instrument reads the loss graph after backward
        super().backward(loss, *args, **kwargs)

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ):
        stats = clip_gradients(self.parameters(), self.cfg.clip.mode, self.cfg.clip.value)
        self._hand_over(stats)
        if not stats.finite:
            self._diverge(f"gradient norm became {stats.pre} at step {self.global_step}")
            optimizer.zero_grad(set_to_none=True)  # the step then changes nothing

    def _hand_over(self, stats) -> None:
        """The step record of the step in flight, to the instruments (after backward and
        clipping, before the optimizer step)."""
        pending, self._step = self._step, None
        if self.instruments is None or pending is None:
            return
        record = StepRecord(
            step=int(self.global_step),
            batch=pending.batch,
            loss=self.last_loss,
            model=self.model,
            clip=stats,
            windows=tuple(pending.windows),
            asked_at=pending.asked_at,
            trajectory=None if pending.x is None else self.probe_trajectory(pending.x),
            loss_graph=pending.graph,
        )
        self.instruments.measure(record, self.logger)

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
