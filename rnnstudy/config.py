"""The typed configuration tree: every knob of a run, validated at parse time.

A run config is a pydantic model; an experiment file (YAML) holds ``name``, ``base`` (a run
config), an optional ``grid`` of dotted paths -> lists, optional ``profiles`` (named sets of
dotted overrides, e.g. ``quick``) and an optional ``sweep`` section: that file is read by ``rnnstudy.experiment``.

Bad input fails here, before any work starts, with one line naming the field::

    >>> parse_run({"task": {"name": "copy"}, "model": {"cell": "transformer"}})
    Traceback (most recent call last):
    ...
    rnnstudy.config.ConfigError: model.cell: Input should be 'rnn', 'lstm' or 'gru' (got 'transformer')
"""

from __future__ import annotations

import copy as _copy
import sys
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from rnnstudy.tasks import TASK_CONFIGS, TASK_NAMES, TaskConfig
from rnnstudy.typed import PositiveFloat, PositiveInt
from rnnstudy.typed import Strict as _Strict

DEFAULT_TASK = "copy"


class ConfigError(ValueError):
    """A configuration problem, reported to the user as one line."""


# ---------------------------------------------------------------- tasks (DESIGN §2)
#
# Each task's config class (its knobs and its facts: metric, chance, solved threshold, readout,
# distances) lives with its generator in its own module of rnnstudy.tasks, torch-free; the
# union ``TaskConfig`` and ``TASK_NAMES`` are built there from the registered tasks. The classes
# are still reachable here by name (``config.CopyTask``), as are the constants of the task
# modules (``config.HELLO_TEXT``, ``config.BAI_BASELINE_MSE``).


def __getattr__(name: str) -> Any:
    """``config.<TaskConfigClass>`` or ``config.<CONSTANT of a task module>``, looked up in the
    task registry (PEP 562), so this module names no task."""
    for cls in TASK_CONFIGS.values():
        if cls.__name__ == name:
            return cls
        module = sys.modules[cls.__module__]
        if name.isupper() and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- model, training (DESIGN §3)


def omit_at_default(obj: _Strict, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``data`` (a dump of ``obj``) without the fields ``names`` while they hold their default.

    Fields added after runs were stored are listed here: a config that leaves them at their
    default dumps as it did before they existed, so its ``config_hash`` (``rnnstudy.resume``:
    resume and the studies find stored runs by it) and its logged params do not change."""
    for name in names:
        if name in data and getattr(obj, name) == type(obj).model_fields[name].default:
            del data[name]
    return data


class ModelConfig(_Strict):
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # vanilla rnn only
    hidden_size: PositiveInt = 64
    num_layers: PositiveInt = 1
    bidirectional: bool = False
    # sparse: Pascanu et al. 2013's smart_tanh (15 nonzeros per row, then scaled to the spectral
    # radius `recurrent_gain`, default 0.95)
    init: Literal["default", "orthogonal", "identity", "xavier", "sparse", "basic_tanh"] = "default"
    recurrent_gain: PositiveFloat | None = None  # sets the spectral radius of each W_hh block
    forget_bias: float = 1.0  # lstm only
    # zero: h_0 = c_0 = 0, fixed; learned: a parameter per layer (and direction) initialised at 0,
    # broadcast over the batch (Arjovsky et al. 2016's h_0, state_0; rnnstudy.models.recurrent)
    initial_state: Literal["zero", "learned"] = "zero"

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_at_default(self, handler(self), ("initial_state",))


class OptimConfig(_Strict):
    name: Literal["adam", "sgd", "rmsprop", "adagrad"] = "adam"
    lr: PositiveFloat = 3e-3
    momentum: Annotated[float, Field(ge=0)] = 0.0
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.99  # rmsprop's decay (Arjovsky et al.: 0.9)
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
    # save the Lightning checkpoint every N steps into the run's artifacts
    # (``checkpoints/last.ckpt``): ``rnnstudy experiment FILE --resume`` continues a killed run
    # from it in the same MLflow run (rnnstudy.checkpoint). None = off.
    checkpoint_every: PositiveInt | None = None
    # each validation check on a fresh set of val_size examples, seeded by (seed, step) (Pascanu
    # et al. 2013: "10,000 freshly generated sequences"); the final evaluation, the distance
    # schedule and the horizon tag keep the fixed set (rnnstudy.data)
    val_fresh: bool = False

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_at_default(self, handler(self), ("val_fresh",))


class ProbeConfig(_Strict):
    enabled: bool = True
    every: PositiveInt = 100
    log_spaced_early: bool = True  # also probe at steps 1, 2, 4, 8, ... below `every`
    spectrum: bool = True
    propagation: bool = True  # loss-independent propagation profile rho(k) (DESIGN §4)
    lyapunov: Annotated[int, Field(ge=0)] = 4  # top-k Lyapunov exponents; 0 = off
    sources: PositiveInt = 4  # source steps at which random unit vectors are injected
    credit: bool = True  # credit at the source by distance (core tasks; DESIGN §4)


class RunConfig(_Strict):
    name: str = "run"
    seed: Annotated[int, Field(ge=0)] = 0
    task: TaskConfig = Field(default_factory=lambda: TASK_CONFIGS[DEFAULT_TASK]())
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)

    @model_validator(mode="after")
    def _compatible(self) -> RunConfig:
        if self.model.bidirectional and self.task.readout != "last":
            raise ValueError(
                "model.bidirectional is only for many-to-one tasks (last-step readout); task"
                f" {self.task.name} has per-step targets: a backward pass would see the answer"
            )
        if self.model.bidirectional and self.train.tbptt is not None:
            raise ValueError("train.tbptt cannot be combined with model.bidirectional")
        return self


# ---------------------------------------------------------------- errors, overrides, parsing


def format_error(err: ValidationError, prefix: str = "", tags: tuple[str, ...] = TASK_NAMES) -> str:
    """The first validation error as one line ``path: problem (got value)``: the one error
    formatter of run configs, experiment files and sweep sections. ``tags`` are discriminator
    values pydantic inserts into union locations; they are dropped (``task.copy.T`` ->
    ``task.T``). A validator's message that already names its field is kept as it is."""
    e = err.errors()[0]
    raw = [str(p) for p in e["loc"]]
    loc = [p for i, p in enumerate(raw) if i == 0 or p not in tags]
    path = (prefix + ".".join(loc)).rstrip(".")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "union_tag_invalid":
        ctx = e.get("ctx") or {}
        expected = str(ctx.get("expected_tags", ""))
        allowed = ", ".join(t for t in tags if f"'{t}'" in expected) or expected
        field = str(ctx.get("discriminator", "name")).strip("'")
        what = loc[-1] if loc else "value"
        return f"{path}.{field}: unknown {what} {ctx.get('tag')!r}; allowed: {allowed}"
    if e["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    if e["type"] == "value_error":
        named = not path or msg.startswith((path.split(".")[0] + ".", path.split(".")[0] + ":"))
        return msg if named else f"{path}: {msg}"
    got = e.get("input")
    if isinstance(got, dict | list) or e["type"] == "missing":
        return f"{path}: {msg}"
    return f"{path}: {msg} (got {got!r})"


def parse_run(data: dict[str, Any]) -> RunConfig:
    """Validate a run config dict; raise ConfigError with a one-line message."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_error(err)) from None


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
