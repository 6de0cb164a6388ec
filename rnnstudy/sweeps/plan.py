"""A sweep plan: the experiment file's base config plus its validated ``sweep:`` section.

Everything a trial needs is checked here, before the study is opened or any MLflow run is
created: every dotted path exists in the run config, both bounds (or every choice) give a
valid config, and the metric is one the task logs. ``SweepPlan.config(values, number)`` is the
trial's run config: the base with the sampled values applied, validated like ``rnnstudy run``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from rnnstudy.config import ConfigError, RunConfig, apply_overrides
from rnnstudy.experiment import ExperimentFile, checked_config, resolve
from rnnstudy.sweeps.space import SweepSpec, probe_values
from rnnstudy.tasks import Task, build_task


@dataclass
class SweepPlan:
    file: str
    study: str  # Optuna study name
    experiment: str  # MLflow experiment name
    base: dict[str, Any]  # resolved base config (profile and --set applied)
    spec: SweepSpec  # metric and direction filled in
    profile: str | None = None
    sets: dict[str, Any] = field(default_factory=dict)

    @property
    def final_key(self) -> str:
        """``val/acc`` -> ``final/acc``: the key of the objective in ``RunResult.metrics``."""
        return "final/" + str(self.spec.metric).split("/", 1)[1]

    @property
    def maximize(self) -> bool:
        return self.spec.direction == "maximize"

    def config(self, values: dict[str, Any], number: int) -> RunConfig:
        data = apply_overrides(self.base, values)
        data["name"] = f"{self.study} #{number}"
        return checked_config(data)


def task_metrics(task: Task) -> list[str]:
    """The validation metrics this task logs (``rnnstudy.metrics.evaluate``)."""
    out = ["val/loss", "val/mse" if task.kind == "regression" else "val/acc"]
    if task.metric not in out:
        out.append(task.metric)
    if hasattr(task, "buckets"):
        out.append("val/memory_horizon")
        out += [f"val/acc_by_distance/{hi}" for _, hi in task.buckets()]
    return out


def check_path(cfg: RunConfig, path: str) -> None:
    """A dotted path must name a field (not a section) of the run config."""
    node: Any = cfg
    keys = path.split(".")
    for i, key in enumerate(keys):
        if not isinstance(node, BaseModel):
            raise ConfigError(
                f"sweep.space.{path}: no such config field ({'.'.join(keys[:i])} is a value)"
            )
        if key not in type(node).model_fields:
            where = ".".join(keys[:i]) or "the run config"
            raise ConfigError(f"sweep.space.{path}: no such config field ({where} has no {key!r})")
        node = getattr(node, key)
    if isinstance(node, BaseModel):
        raise ConfigError(f"sweep.space.{path}: is a section; sweep one of its fields instead")


def check_space(base: dict[str, Any], spec: SweepSpec) -> tuple[RunConfig, list[str]]:
    """Validate every path and bound against the base; return the base config and the metrics
    every probed config logs."""
    cfg = checked_config(base)
    metrics = task_metrics(build_task(cfg.task))
    for path, p in spec.space.items():
        check_path(cfg, path)
        for v in probe_values(p):
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"sweep.space.{path}: bounds must be finite (got {v})")
            try:
                probed = checked_config(apply_overrides(base, {path: v}))
            except ConfigError as err:
                raise ConfigError(f"sweep.space.{path}: value {v!r} is not valid: {err}") from None
            logged = task_metrics(build_task(probed.task))
            metrics = [m for m in metrics if m in logged]
    return cfg, metrics


def make_plan(
    exp: ExperimentFile,
    file: str,
    profile: str | None = None,
    sets: dict[str, Any] | None = None,
    n_trials: int | None = None,
    study: str | None = None,
) -> SweepPlan:
    """Validate the whole sweep (raises ConfigError with one line) and return the plan."""
    sets = dict(sets or {})
    if exp.sweep is None:
        raise ConfigError(f"{file}: no `sweep:` section (see rnnstudy/sweeps/space.py)")
    spec = exp.sweep
    base, _grid = resolve(exp, profile, sets)  # a sweep ignores the file's grid
    base.pop("name", None)
    cfg, metrics = check_space(base, spec)
    spec = spec.resolved(build_task(cfg.task).metric)
    if spec.metric not in metrics:
        raise ConfigError(
            f"sweep.metric: {spec.metric!r} is not logged by task {cfg.task.name};"
            f" allowed: {', '.join(metrics)}"
        )
    if n_trials is not None:
        if n_trials < 1:
            raise ConfigError(f"--n-trials: must be >= 1 (got {n_trials})")
        spec = spec.model_copy(update={"n_trials": n_trials})
    name = study or exp.name + (f"-{profile}" if profile else "")
    return SweepPlan(file, name, exp.name, base, spec, profile, sets)
