"""The typed configuration tree: every knob of a run, validated at parse time.

A run config is a pydantic model; an experiment file (YAML) holds ``name``, ``base`` (a run
config), an optional ``grid`` of dotted paths -> lists, optional ``profiles`` (named sets of
dotted overrides, e.g. ``quick``) and an optional ``sweep`` section.

Bad input fails here, before any work starts, with one line naming the field::

    >>> parse_run({"task": {"name": "copy"}, "model": {"cell": "transformer"}})
    Traceback (most recent call last):
    ...
    rnnstudy.config.ConfigError: model.cell: Input should be 'rnn', 'lstm' or 'gru' (got 'transformer')
"""

from __future__ import annotations

import copy as _copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(ValueError):
    """A configuration problem, reported to the user as one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- tasks (DESIGN §2)


class CopyTask(_Strict):
    name: Literal["copy"] = "copy"
    A: Annotated[int, Field(ge=2)] = 8
    K: PositiveInt = 10
    T: PositiveInt = 50


class DelayedRecallTask(_Strict):
    name: Literal["delayed_recall"] = "delayed_recall"
    A: Annotated[int, Field(ge=2)] = 8
    D: PositiveInt = 10
    L: PositiveInt = 40

    @model_validator(mode="after")
    def _length(self) -> DelayedRecallTask:
        if self.L < 2 * self.D:
            raise ValueError(f"task.L must be >= 2*D = {2 * self.D} (got {self.L})")
        return self


class QADistanceTask(_Strict):
    name: Literal["qa_distance"] = "qa_distance"
    n_keys: Annotated[int, Field(ge=1)] = 8
    n_values: Annotated[int, Field(ge=2)] = 8
    n_facts: PositiveInt = 1
    n_filler: PositiveInt = 4
    d_min: Annotated[int, Field(ge=2)] = 2
    d_max: PositiveInt = 50
    n_buckets: PositiveInt = 5

    @model_validator(mode="after")
    def _ranges(self) -> QADistanceTask:
        if self.d_max < self.d_min:
            raise ValueError(f"task.d_max must be >= d_min = {self.d_min} (got {self.d_max})")
        if self.n_facts > self.n_keys:
            raise ValueError(
                f"task.n_keys must be >= n_facts = {self.n_facts} so distractors have different"
                f" keys (got {self.n_keys})"
            )
        return self


class AddingTask(_Strict):
    name: Literal["adding"] = "adding"
    T: Annotated[int, Field(ge=2)] = 50


class TemporalOrderTask(_Strict):
    name: Literal["temporal_order"] = "temporal_order"
    L: Annotated[int, Field(ge=10)] = 50


class CharLMTask(_Strict):
    name: Literal["charlm"] = "charlm"
    path: str | None = None  # None = the built-in "hello" text
    seq_len: Annotated[int, Field(ge=2)] = 25


TaskConfig = Annotated[
    CopyTask | DelayedRecallTask | QADistanceTask | AddingTask | TemporalOrderTask | CharLMTask,
    Field(discriminator="name"),
]
TASK_NAMES = ("copy", "delayed_recall", "qa_distance", "adding", "temporal_order", "charlm")


# ---------------------------------------------------------------- model, training (DESIGN §3)


class ModelConfig(_Strict):
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # vanilla rnn only
    hidden_size: PositiveInt = 64
    num_layers: PositiveInt = 1
    bidirectional: bool = False
    # sparse: Pascanu et al. 2013's smart_tanh (15 nonzeros per row, then scaled to the spectral
    # radius `recurrent_gain`, default 0.95)
    init: Literal["default", "orthogonal", "identity", "xavier", "sparse"] = "default"
    recurrent_gain: PositiveFloat | None = None  # sets the spectral radius of each W_hh block
    forget_bias: float = 1.0  # lstm only


class OptimConfig(_Strict):
    name: Literal["adam", "sgd", "rmsprop", "adagrad"] = "adam"
    lr: PositiveFloat = 3e-3
    momentum: Annotated[float, Field(ge=0)] = 0.0
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


class ClipConfig(_Strict):
    mode: Literal["none", "norm", "value"] = "norm"
    value: PositiveFloat = 1.0

    def label(self) -> str:
        return "none" if self.mode == "none" else f"{self.mode}:{self.value:g}"


class TrainConfig(_Strict):
    max_steps: PositiveInt = 1000
    batch_size: PositiveInt = 64
    val_every: PositiveInt = 100
    val_size: PositiveInt = 512
    tbptt: PositiveInt | None = None  # window k; None = full BPTT
    # per_window: classic TBPTT (min-char-rnn): carry the state, one update after each window.
    # per_sequence: gradient truncated at window boundaries, window gradients summed, one update.
    tbptt_mode: Literal["per_window", "per_sequence"] = "per_sequence"
    stop_when_solved: bool = False
    log_every: PositiveInt = 1
    accelerator: str = "auto"
    # CPU threads for torch. Small recurrent nets gain little from a second thread, and OpenMP
    # threads that spin-wait for a busy core make a step up to 40x slower on a loaded machine.
    threads: PositiveInt = 1
    precision: Literal["32", "64"] = "32"


class ProbeConfig(_Strict):
    enabled: bool = True
    every: PositiveInt = 100
    log_spaced_early: bool = True  # also probe at steps 1, 2, 4, 8, ... below `every`
    spectrum: bool = True
    propagation: bool = True  # loss-independent propagation profile rho(k) (DESIGN §4)
    lyapunov: Annotated[int, Field(ge=0)] = 4  # top-k Lyapunov exponents; 0 = off
    sources: PositiveInt = 4  # source steps at which random unit vectors are injected


class RunConfig(_Strict):
    name: str = "run"
    seed: Annotated[int, Field(ge=0)] = 0
    task: TaskConfig = Field(default_factory=CopyTask)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)

    @model_validator(mode="after")
    def _compatible(self) -> RunConfig:
        if self.model.bidirectional and self.task.name in ("copy", "delayed_recall", "charlm"):
            raise ValueError(
                f"model.bidirectional is only for many-to-one tasks (task.name={self.task.name}"
                " is many-to-many: a backward pass would see the answer)"
            )
        if self.model.bidirectional and self.train.tbptt is not None:
            raise ValueError("train.tbptt cannot be combined with model.bidirectional")
        return self


# ---------------------------------------------------------------- errors, overrides, parsing


def _format_error(err: ValidationError, prefix: str = "") -> str:
    e = err.errors()[0]
    loc = [str(p) for p in e["loc"]]
    # drop the discriminator tag pydantic inserts into union locations (task.copy.T -> task.T)
    if len(loc) >= 2 and loc[0] == "task" and loc[1] in TASK_NAMES:
        loc = [loc[0], *loc[2:]]
    path = prefix + ".".join(loc)
    msg = e["msg"]
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    if e["type"] == "union_tag_invalid":
        return f"{path}.name: unknown task {e['input'].get('name')!r}; allowed: {', '.join(TASK_NAMES)}"
    if e["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    got = e.get("input")
    if isinstance(got, dict | list):
        return f"{path}: {msg}"
    return f"{path}: {msg} (got {got!r})"


def parse_run(data: dict[str, Any]) -> RunConfig:
    """Validate a run config dict; raise ConfigError with a one-line message."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars: 3 -> int, 1e-3 -> float, none/null -> None."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)  # YAML 1.1 reads "1e-3" as a string
    except ValueError:
        pass
    value = yaml.safe_load(text)
    if isinstance(value, str) and value.lower() == "none":
        return None
    return value


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``dotted='a.b'``, creating sub-dicts."""
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = _copy.deepcopy(data)
    for path, value in overrides.items():
        set_path(out, path, value)
    return out


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["model.cell=gru", "optim.lr=1e-3"]`` -> ``{"model.cell": "gru", "optim.lr": 0.001}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected path=value, e.g. model.cell=gru")
        path, text = item.split("=", 1)
        out[path.strip()] = parse_value(text.strip())
    return out


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"cell": "rnn"}}`` -> ``{"model.cell": "rnn"}`` (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


# ---------------------------------------------------------------- experiment files


class ExperimentFile(_Strict):
    name: Annotated[str, Field(pattern=r"^[\w.\-]+$")]
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sweep: dict[str, Any] | None = None
    summary: dict[str, Any] = Field(default_factory=dict)  # study-specific (published numbers, …)


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_experiment(path: str | Path) -> ExperimentFile:
    data = load_yaml(path)
    try:
        return ExperimentFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {_format_error(err)}") from None
