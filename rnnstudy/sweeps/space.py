"""The ``sweep:`` section of an experiment file: a typed, validated model.

::

    sweep:
      metric: val/acc              # any validation metric the task logs (default: the task's)
      direction: maximize          # default: from the metric (loss/mse/bpc minimize)
      n_trials: 20                 # total trials in the study (re-runs continue up to this)
      timeout: null                # seconds after which this invocation starts no new trial
      sampler: {name: tpe, seed: 0, n_startup_trials: 5}      # or: tpe | random
      pruner: {name: median, n_startup_trials: 3, n_warmup_steps: 200}  # or: hyperband | none
      space:
        optim.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
        model.hidden_size: {type: int, low: 16, high: 64, step: 16}
        model.cell: {type: categorical, choices: [lstm, gru]}

Every dotted path is checked against the run config (``check_space``): a path that does not
exist, a bound the config rejects or a bad range fails before any trial with one line::

    rnnstudy: error: sweep.space.optim.lrr: no such config field (optim has no 'lrr')
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | bool | int | float | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- parameters


class FloatParam(_Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log, self.step)
        return self


class IntParam(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: Annotated[int, Field(gt=0)] = 1

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step)
        return self


class CategoricalParam(_Strict):
    type: Literal["categorical"]
    choices: Annotated[list[Scalar], Field(min_length=1)]

    @field_validator("choices")
    @classmethod
    def _unique(cls, v: list[Scalar]) -> list[Scalar]:
        if len({repr(c) for c in v}) != len(v):
            raise ValueError(f"choices must be distinct (got {v})")
        return v


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if low > high:
        raise ValueError(f"low must be <= high (got low={low}, high={high})")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0 (got low={low})")
    if log and step is not None:
        raise ValueError("log and step cannot be combined")


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


# ---------------------------------------------------------------- sampler, pruner


class TPESpec(_Strict):
    name: Literal["tpe"] = "tpe"
    seed: Annotated[int, Field(ge=0)] | None = 0
    n_startup_trials: Annotated[int, Field(ge=0)] = 10
    multivariate: bool = False


class RandomSpec(_Strict):
    name: Literal["random"]
    seed: Annotated[int, Field(ge=0)] | None = 0


class MedianSpec(_Strict):
    name: Literal["median"] = "median"
    n_startup_trials: Annotated[int, Field(ge=0)] = 5
    n_warmup_steps: Annotated[int, Field(ge=0)] = 0
    interval_steps: Annotated[int, Field(ge=1)] = 1


class HyperbandSpec(_Strict):
    name: Literal["hyperband"]
    min_resource: Annotated[int, Field(ge=1)] | None = None  # None: the base train.val_every
    max_resource: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    reduction_factor: Annotated[int, Field(ge=2)] = 3


class NoPrunerSpec(_Strict):
    name: Literal["none"]


SamplerSpec = Annotated[TPESpec | RandomSpec, Field(discriminator="name")]
PrunerSpec = Annotated[MedianSpec | HyperbandSpec | NoPrunerSpec, Field(discriminator="name")]

MINIMIZED = ("val/loss", "val/mse", "val/bpc")


class SweepSpec(_Strict):
    metric: Annotated[str, Field(pattern=r"^val/[\w./\-]+$")] | None = None
    direction: Literal["minimize", "maximize"] | None = None
    n_trials: Annotated[int, Field(ge=1)] = 20
    timeout: Annotated[float, Field(gt=0)] | None = None
    sampler: SamplerSpec = Field(default_factory=TPESpec)
    pruner: PrunerSpec = Field(default_factory=MedianSpec)
    space: Annotated[dict[str, Param], Field(min_length=1)]

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _name_only(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    def resolved(self, task_metric: str) -> SweepSpec:
        """Fill ``metric`` (the task's own) and ``direction`` (from the metric) if omitted."""
        metric = self.metric or task_metric
        direction = self.direction or ("minimize" if metric in MINIMIZED else "maximize")
        return self.model_copy(update={"metric": metric, "direction": direction})


# ---------------------------------------------------------------- parsing

TAGS = ("float", "int", "categorical", "tpe", "random", "median", "hyperband", "none")


def probe_values(p: FloatParam | IntParam | CategoricalParam) -> list[Scalar]:
    """The values a parameter's validity is checked at: both bounds, or every choice."""
    if isinstance(p, CategoricalParam):
        return list(p.choices)
    return [p.low, p.high]


def suggest(trial: Any, space: dict[str, FloatParam | IntParam | CategoricalParam]) -> dict:
    """Sample every parameter of ``space`` from an Optuna trial: ``{dotted path: value}``."""
    out: dict[str, Any] = {}
    for path, p in space.items():
        if isinstance(p, FloatParam):
            out[path] = trial.suggest_float(path, p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, IntParam):
            out[path] = trial.suggest_int(path, p.low, p.high, log=p.log, step=p.step)
        else:
            out[path] = trial.suggest_categorical(path, p.choices)
    return out
