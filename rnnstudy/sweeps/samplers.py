"""Optuna sampler and pruner from the validated sweep section.

A seeded sampler is re-seeded for every trial from ``seed + trial.number``: a study is
reproducible from its history, and workers started at the same moment on several machines do
not draw the same parameters (one shared seed would make their random start-up trials identical).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from rnnstudy.sweeps.space import (
    HyperbandSpec,
    MedianSpec,
    RandomSpec,
    SweepSpec,
    TPESpec,
)


class PerTrialSeeded(BaseSampler):
    """Delegates to ``make(seed + trial.number)``, a fresh sampler for each trial."""

    def __init__(self, make: Callable[[int | None], BaseSampler], seed: int | None) -> None:
        self._make, self._seed = make, seed
        self._inner = make(seed)

    def __str__(self) -> str:
        return f"{self._inner.__class__.__name__}(seed={self._seed}+trial)"

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self._seed is not None:
            self._inner = self._make(self._seed + trial.number)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def build_sampler(spec: SweepSpec) -> BaseSampler:
    s = spec.sampler
    if isinstance(s, TPESpec):

        def make(seed: int | None) -> BaseSampler:
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=s.n_startup_trials, multivariate=s.multivariate
            )

    elif isinstance(s, RandomSpec):

        def make(seed: int | None) -> BaseSampler:
            return optuna.samplers.RandomSampler(seed=seed)

    else:  # pragma: no cover - the spec is a closed union
        raise AssertionError(s)
    return PerTrialSeeded(make, s.seed)


def build_pruner(spec: SweepSpec, val_every: int) -> optuna.pruners.BasePruner:
    """Intermediate values are reported at the training step of each validation."""
    p = spec.pruner
    if isinstance(p, MedianSpec):
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials,
            n_warmup_steps=p.n_warmup_steps,
            interval_steps=p.interval_steps,
        )
    if isinstance(p, HyperbandSpec):
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_resource or val_every,
            max_resource=p.max_resource,
            reduction_factor=p.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def describe(spec: SweepSpec) -> tuple[str, str]:
    """Short labels for MLflow params: ``("tpe(seed=0)", "median(startup=5, warmup=0)")``."""
    s, p = spec.sampler, spec.pruner
    sampler = f"{s.name}(seed={s.seed})"
    if isinstance(p, MedianSpec):
        pruner = f"median(startup={p.n_startup_trials}, warmup={p.n_warmup_steps})"
    elif isinstance(p, HyperbandSpec):
        pruner = f"hyperband(min={p.min_resource}, max={p.max_resource}, eta={p.reduction_factor})"
    else:
        pruner = "none"
    return sampler, pruner
