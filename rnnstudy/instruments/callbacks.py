"""The instruments as Lightning callbacks, each on its own schedule, knowing nothing of the task.

* ``GradNorms``   — every step: total gradient norm before/after clipping, whether the step
  was clipped, the running clip rate, per-parameter norms (logged every ``log_every`` steps; the
  clip rate counts every step).
* ``GradTime``    — on the probe schedule: the exact per-time-step ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖)
  for every layer, its summaries as metrics, and the whole matrix (probe step x time step) as
  ``gradtime/<layer>.npz`` in ``out_dir``.
* ``Spectrum``    — on the probe schedule: spectral radius and σ_max of every W_hh block.

They log through ``trainer.logger.log_metrics`` (buffered: see ``rnnstudy.tracking``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rnnstudy.instruments.gradtime import example_norms, layer_grads
from rnnstudy.instruments.schedule import should_probe
from rnnstudy.instruments.spectrum import spectrum
from rnnstudy.instruments.summaries import summarise
from rnnstudy.models.recurrent import param_label


def _log(trainer: pl.Trainer, metrics: dict[str, float], step: int) -> None:
    if trainer.logger is not None and metrics:
        trainer.logger.log_metrics(metrics, step=step)


class GradNorms(pl.Callback):
    """Per training step: total gradient norm before/after clipping, the clipped flag, the
    running clip rate and per-parameter norms, all from the ``ClipStats`` that
    ``clip_gradients`` left on the module (one fused pass; nothing recomputed here).

    A step without gradients (the loss was not finite, so Lightning ran no backward but still
    called the clipping hook) logs no gradient figures and does not count in the clip rate.
    """

    def __init__(self, log_every: int = 1):
        self.log_every = log_every
        self.steps = 0
        self.clipped = 0
        self._labels: list[str] | None = None  # metric names, parameter order, all with grads

    def _param_metrics(self, pl_module, norms: list[float]) -> dict[str, float]:
        if self._labels is None or len(self._labels) != len(norms):
            named = pl_module.model.named_parameters()
            self._labels = [f"grad/param/{param_label(n)}" for n, p in named if p.grad is not None]
        return dict(zip(self._labels, norms, strict=True))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stats = pl_module.last_clip
        pl_module.last_clip = None
        if stats is None or not stats.has_grads or not math.isfinite(pl_module.last_loss):
            return  # no backward happened (diverged loss): no figures, not a step of the rate
        self.steps += 1
        self.clipped += int(stats.clipped)
        step = trainer.global_step - 1  # the step just taken
        if step % self.log_every:
            return
        m = {
            "train/loss": pl_module.last_loss,
            "grad/norm_preclip": stats.pre,
            "grad/norm_postclip": stats.post,
            "grad/clipped": float(stats.clipped),
            "grad/clip_rate": self.clipped / self.steps,
        }
        if stats.norms:
            m.update(self._param_metrics(pl_module, stats.norms))
        _log(trainer, m, step)


class GradTime(pl.Callback):
    def __init__(
        self, every: int, log_spaced_early: bool = True, out_dir: str | Path | None = None
    ):
        self.every, self.early = every, log_spaced_early
        self.out_dir = Path(out_dir) if out_dir else None
        self.steps: list[int] = []
        self.rows: dict[str, list[np.ndarray]] = {}
        self._source: np.ndarray | None = None  # (B,) first informative positions, if given

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        pl_module.capture = should_probe(trainer.global_step, self.every, self.early)
        source = batch.meta.get("source") if pl_module.capture else None
        self._source = None if source is None else source.detach().cpu().numpy()

    def on_after_backward(self, trainer, pl_module) -> None:
        if not pl_module.capture or not pl_module.captured:
            return
        pieces: dict[str, list[torch.Tensor]] = {}
        for win in sorted(pl_module.captured, key=lambda w: w.start):
            grads = layer_grads(pl_module.model, win.inputs, win.outputs, win.grads, win.state0)
            for k, v in example_norms(grads).items():
                pieces.setdefault(k, []).append(v)
        step = trainer.global_step
        metrics = {}
        for k, parts in pieces.items():
            per_example = torch.cat(parts, dim=1).double().cpu().numpy()  # (B, L)
            self.rows.setdefault(k, []).append(per_example.mean(axis=0))
            summary = summarise(per_example, reverse="_reverse" in k, source=self._source)
            for name, v in summary.items():
                if math.isfinite(v):  # an undefined summary is not logged (DESIGN §4)
                    metrics[f"gradtime/{k}/{name}"] = v
        self.steps.append(step)
        _log(trainer, metrics, step)
        pl_module.captured = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.capture = False
        pl_module.captured = []

    def matrices(self) -> dict[str, np.ndarray]:
        return {k: np.stack(v) for k, v in self.rows.items()}

    def on_train_end(self, trainer, pl_module) -> None:
        self.save()

    def save(self) -> list[Path]:
        if self.out_dir is None or not self.steps:
            return []
        d = self.out_dir / "gradtime"
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        steps = np.asarray(self.steps, dtype=np.int64)
        for k, mat in self.matrices().items():
            p = d / f"{k}.npz"
            np.savez_compressed(p, norms=mat, steps=steps, time=np.arange(mat.shape[1]))
            paths.append(p)
        return paths


class Spectrum(pl.Callback):
    def __init__(self, every: int, log_spaced_early: bool = True):
        self.every, self.early = every, log_spaced_early

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if should_probe(step, self.every, self.early):
            _log(trainer, spectrum(pl_module.model), step)


def instrument_callbacks(cfg, out_dir: Path) -> list[pl.Callback]:
    """The instruments a run config asks for; artifacts go under ``out_dir`` (the runner logs
    that folder to the run once training is over)."""
    cbs: list[pl.Callback] = [GradNorms(cfg.train.log_every)]
    if cfg.probe.enabled:
        cbs.append(GradTime(cfg.probe.every, cfg.probe.log_spaced_early, out_dir=out_dir))
        if cfg.probe.spectrum:
            cbs.append(Spectrum(cfg.probe.every, cfg.probe.log_spaced_early))
    return cbs
