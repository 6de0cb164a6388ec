"""The instruments as Lightning callbacks, each on its own schedule, knowing nothing of the task.

* ``GradNorms``   — every step: total gradient norm before/after clipping, whether the step
  was clipped, the running clip rate, per-parameter norms (logged every ``log_every`` steps; the
  clip rate counts every step).
* ``GradTime``    — on the probe schedule: the exact per-time-step ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖)
  for every layer, its summaries as metrics, and the whole matrix (probe step x time step) as
  ``gradtime/<layer>.npz`` in ``out_dir``; in the same pass the loss-independent propagation
  profile (``propagation/``) and the top Lyapunov exponents (``lyapunov/``); on a core task
  (``edges``: the distance buckets) also the credit at the source by distance (``credit/``,
  ``rnnstudy.instruments.credit``) from the same per-example norms, and ``credit/<layer>.npz``.
* ``Spectrum``    — on the probe schedule: spectral radius and σ_max of every W_hh block.

They log through ``trainer.logger.log_metrics`` (buffered: see ``rnnstudy.tracking``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rnnstudy.instruments.credit import layer_credit
from rnnstudy.instruments.probe import run_probe
from rnnstudy.instruments.propagation import summarise as propagation_summary
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

    def state_dict(self) -> dict:
        """The clip-rate counters (a checkpoint, rnnstudy.checkpoint)."""
        return {"steps": self.steps, "clipped": self.clipped}

    def load_state_dict(self, state_dict: dict) -> None:
        self.steps, self.clipped = int(state_dict["steps"]), int(state_dict["clipped"])


def _tensors(d: dict[str, list[np.ndarray]]) -> dict[str, list[torch.Tensor]]:
    return {k: [torch.as_tensor(np.asarray(r)) for r in rows] for k, rows in d.items()}


def _arrays(d: dict[str, list[torch.Tensor]]) -> dict[str, list[np.ndarray]]:
    return {k: [t.numpy() for t in rows] for k, rows in d.items()}


def _pad_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Stack 1-d rows into (n, max length), NaN-padded (the length can change in a run)."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class GradTime(pl.Callback):
    """The probe: on the probe schedule, for every layer and direction, the exact per-time-step
    gradient norms (``gradtime/``), and unless switched off the propagation profile
    (``propagation/``, ``sources`` source steps) and the top ``lyapunov`` Lyapunov exponents
    (``lyapunov/``). Random vectors come from this callback's own generator, seeded by
    ``seed``. Undefined summaries (NaN) are not logged."""

    def __init__(
        self,
        every: int,
        log_spaced_early: bool = True,
        out_dir: str | Path | None = None,
        *,
        sources: int = 0,
        lyapunov: int = 0,
        seed: int = 0,
        edges: list[tuple[int, int]] | None = None,
    ):
        self.every, self.early = every, log_spaced_early
        self.out_dir = Path(out_dir) if out_dir else None
        self.sources, self.lyapunov = sources, lyapunov
        self.gen = torch.Generator().manual_seed(seed)
        self.steps: list[int] = []
        self.rows: dict[str, list[np.ndarray]] = {}
        self.rho: dict[str, list[np.ndarray]] = {}
        self.exponents: dict[str, list[np.ndarray]] = {}
        self._source: torch.Tensor | None = None  # (B,) first informative positions, if given
        self._distance: torch.Tensor | None = None  # (B,) dependency distances (core tasks)
        self.edges = edges
        self.credit: dict[str, list[np.ndarray]] = {}  # per layer: bucket medians per probe

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        pl_module.capture = should_probe(trainer.global_step, self.every, self.early)
        # kept on every step (a reference, no copy): with per-window TBPTT the module turns
        # ``capture`` on inside the step, after this hook
        self._source = batch.meta.get("source")
        self._distance = batch.meta.get("distance")

    def on_after_backward(self, trainer, pl_module) -> None:
        if not pl_module.capture or not pl_module.captured:
            return
        res = run_probe(
            pl_module.model,
            pl_module.captured,
            self.gen,
            sources=self.sources,
            lyapunov=self.lyapunov,
            trajectory=pl_module.probe_trajectory(),  # per-window TBPTT only
        )
        step = trainer.global_step
        metrics: dict[str, float] = {}
        for k, per_example in res.grad_norms.items():  # (B, L)
            self.rows.setdefault(k, []).append(per_example.mean(axis=0))
            summary = summarise(
                per_example,
                reverse="_reverse" in k,
                source=None if self._source is None else self._source.detach().cpu().numpy(),
            )
            metrics.update({f"gradtime/{k}/{name}": v for name, v in summary.items()})
        metrics.update(self._credit(res.grad_norms))
        for k, rho in res.rho.items():
            self.rho.setdefault(k, []).append(rho)
            summary = propagation_summary(rho)
            metrics.update({f"propagation/{k}/{name}": v for name, v in summary.items()})
        for k, lam in res.lyapunov.items():
            self.exponents.setdefault(k, []).append(lam)
            metrics.update({f"lyapunov/{k}/l{i + 1}": float(v) for i, v in enumerate(lam)})
        self.steps.append(step)
        # an undefined summary is not logged (DESIGN §4)
        _log(trainer, {k: v for k, v in metrics.items() if math.isfinite(v)}, step)
        pl_module.captured = []

    def _credit(self, grad_norms: dict[str, np.ndarray]) -> dict[str, float]:
        """Credit metrics of this probe; keeps the bucket medians for ``credit/<layer>.npz``."""
        if self.edges is None or self._source is None or self._distance is None:
            return {}
        m = layer_credit(
            grad_norms,
            self._source.detach().cpu().numpy(),
            self._distance.detach().cpu().numpy(),
            self.edges,
        )
        for key in {k.split("/")[1] for k in m}:
            row = [m.get(f"credit/{key}/by_distance/{hi}", np.nan) for _, hi in self.edges]
            self.credit.setdefault(key, []).append(np.asarray(row, dtype=float))
        return m

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.capture = False
        pl_module.captured = []

    def state_dict(self) -> dict:
        """The probe rows so far and the generator (a checkpoint: tensors, no pickled arrays)."""
        state = {k: _tensors(getattr(self, k)) for k in ("rows", "rho", "exponents", "credit")}
        return {**state, "steps": list(self.steps), "gen": self.gen.get_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        for k in ("rows", "rho", "exponents", "credit"):
            setattr(self, k, _arrays(state_dict[k]))
        self.steps = [int(s) for s in state_dict["steps"]]
        self.gen.set_state(state_dict["gen"])

    def matrices(self) -> dict[str, np.ndarray]:
        """{key: (probe, time step)} mean-over-batch gradient norms."""
        return {k: _pad_rows(v) for k, v in self.rows.items()}

    def on_train_end(self, trainer, pl_module) -> None:
        self.save()

    def save(self) -> list[Path]:
        """``gradtime/<key>.npz`` (norms, steps, time), ``propagation/<key>.npz`` (rho: probe x
        lag, steps, lags) and ``lyapunov/<key>.npz`` (exponents: probe x k, steps)."""
        if self.out_dir is None or not self.steps:
            return []
        paths = []
        steps = np.asarray(self.steps, dtype=np.int64)

        def write(folder: str, key: str, **arrays) -> None:
            d = self.out_dir / folder
            d.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(d / f"{key}.npz", steps=steps, **arrays)
            paths.append(d / f"{key}.npz")

        for k, mat in self.matrices().items():
            write("gradtime", k, norms=mat, time=np.arange(mat.shape[1]))
        for k, rows in self.rho.items():
            rho = _pad_rows(rows)
            write("propagation", k, rho=rho, lags=np.arange(1, rho.shape[1] + 1))
        for k, rows in self.exponents.items():
            write("lyapunov", k, exponents=_pad_rows(rows))
        for k, rows in self.credit.items():
            if len(rows) == len(steps):
                edges = np.asarray([hi for _, hi in self.edges or []], dtype=np.int64)
                write("credit", k, credit=np.stack(rows), edges=edges)
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
        p = cfg.probe
        sources = p.sources if p.propagation else 0
        gt = GradTime(
            p.every,
            p.log_spaced_early,
            out_dir,
            sources=sources,
            lyapunov=p.lyapunov,
            seed=cfg.seed,
            edges=cfg.task.buckets() if cfg.task.has_distances and p.credit else None,
        )
        cbs.append(gt)
        if cfg.probe.spectrum:
            cbs.append(Spectrum(cfg.probe.every, cfg.probe.log_spaced_early))
    return cbs
