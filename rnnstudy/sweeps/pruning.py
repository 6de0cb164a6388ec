"""The Lightning callback that lets Optuna stop a trial: report at each validation, prune.

``optuna_integration.PyTorchLightningPruningCallback`` imports ``lightning.pytorch``, which
clashes with this project's ``pytorch_lightning`` namespace (DESIGN §6), hence this one.

At the end of every validation the chosen metric (``SequenceModule.val_metrics``) is reported
to the trial at the current training step; if the pruner says so, ``optuna.TrialPruned`` is
raised out of ``fit`` (``run_one`` then tags the MLflow run ``outcome=pruned``). Non-finite
values are not reported: a diverging run is left to finish as ``outcome=diverged`` (a FAIL,
not a PRUNED trial).
"""

from __future__ import annotations

import math

import optuna
import pytorch_lightning as pl


class PruningReporter(pl.Callback):
    def __init__(self, trial: optuna.trial.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.run_id: str | None = None  # the MLflow child run, known once fit starts
        self.reported: dict[int, float] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.run_id = getattr(trainer.logger, "run_id", None)
        if self.run_id:
            self.trial.set_user_attr("mlflow_run_id", self.run_id)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or getattr(pl_module, "diverged", False):
            return
        value = getattr(pl_module, "val_metrics", {}).get(self.metric)
        step = int(trainer.global_step)
        if value is None or not math.isfinite(value) or step in self.reported:
            return
        self.reported[step] = float(value)
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} ({self.metric}={value:.4g})")
