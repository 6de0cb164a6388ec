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
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnnstudy import horizon

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(ValueError):
    """A configuration problem, reported to the user as one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- tasks (DESIGN §2)
#
# Each task config also carries the task's facts (DESIGN §2 tables), torch-free, so the report
# reads them from a run's config without importing training code: ``metric`` (the validation
# metric that decides "solved"), ``higher_is_better``, ``solved_threshold``, ``chance_metric``
# (that metric at chance), ``memoryless_loss`` (the loss of the best predictor that ignores the
# input history), ``has_distances`` and, for the core tasks, ``buckets()`` (memory horizon).
# The torch Task classes (rnnstudy.tasks) read them from here.


class _Facts(_Strict):
    metric: ClassVar[str] = "val/acc"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float | None] = None  # None: no solved criterion (charlm)

    @property
    def readout(self) -> Literal["per_step", "last"]:
        """Where the targets sit: ``last`` (many-to-one: one target at the last step) or
        ``per_step`` (many-to-many). Decides which models the task admits (bidirectional)."""
        return "per_step"

    @property
    def has_distances(self) -> bool:
        return False

    @property
    def chance_metric(self) -> float:
        raise NotImplementedError

    @property
    def memoryless_loss(self) -> float:
        raise NotImplementedError

    def solved(self, metrics: dict[str, float]) -> bool:
        """The solved criterion on validation metrics (``{"val/acc": 0.995}`` -> True)."""
        if self.solved_threshold is None:
            return False
        v = metrics.get(self.metric, float("nan"))
        return v >= self.solved_threshold if self.higher_is_better else v < self.solved_threshold


class _Distances(_Facts):
    """A core task (DESIGN §2.1): ``d`` is drawn per example from ``[d_min, d_max]``.

    ``curriculum: grow`` trains on ``[d_min, d_start]`` first and widens the upper end by
    ``grow_factor`` each time validation accuracy on the current range reaches the solved
    threshold, up to ``d_max`` (rnnstudy.curriculum); validation always spans the whole range.
    """

    d_min: PositiveInt = 2
    d_max: PositiveInt = 40
    n_buckets: PositiveInt = 5
    curriculum: Literal["none", "grow"] = "none"
    d_start: PositiveInt | None = None  # grow: first upper end; None = min(d_max, d_min + 8)
    grow_factor: Annotated[float, Field(gt=1)] = 1.5

    @property
    def has_distances(self) -> bool:
        return True

    @property
    def start(self) -> int:
        """The first upper end of the training range under ``curriculum: grow``."""
        return min(self.d_max, self.d_start if self.d_start is not None else self.d_min + 8)

    def buckets(self) -> list[tuple[int, int]]:
        return horizon.buckets(self.d_min, self.d_max, self.n_buckets)

    def _check_range(self, lowest: int, why: str) -> None:
        if self.d_min < lowest:
            raise ValueError(f"task.d_min must be >= {lowest} ({why}; got {self.d_min})")
        if self.d_max < self.d_min:
            raise ValueError(f"task.d_max must be >= d_min = {self.d_min} (got {self.d_max})")
        if self.d_start is not None and not self.d_min <= self.d_start <= self.d_max:
            raise ValueError(
                f"task.d_start must lie in [d_min, d_max] = [{self.d_min}, {self.d_max}]"
                f" (got {self.d_start})"
            )


class CopyTask(_Distances):
    """``K`` symbols of ``A``, a gap, a delimiter, ``K`` recall steps; ``d = gap + K``.
    ``T`` is the older fixed-gap form: ``T: 30`` means ``d_min = d_max = T + K``."""

    name: Literal["copy"] = "copy"
    A: Annotated[int, Field(ge=2)] = 8
    K: PositiveInt = 3
    T: PositiveInt | None = None
    d_min: PositiveInt = 4
    d_max: PositiveInt = 20
    solved_threshold: ClassVar[float | None] = 0.99

    @model_validator(mode="before")
    @classmethod
    def _fixed_gap(cls, data: Any) -> Any:
        if isinstance(data, dict):
            T, K = data.get("T"), data.get("K", 3)
            if isinstance(T, int) and isinstance(K, int) and T > 0 and K > 0:
                data = {"d_min": T + K, "d_max": T + K, **data}
        return data

    @model_validator(mode="after")
    def _ranges(self) -> CopyTask:
        if self.T is not None and not self.d_min == self.d_max == self.T + self.K:
            raise ValueError(
                f"task.T is the fixed-gap form (d_min = d_max = T + K = {self.T + self.K});"
                f" give either T or d_min/d_max (got d_min={self.d_min}, d_max={self.d_max})"
            )
        self._check_range(self.K + 1, "a gap of at least one step: d = gap + K")
        return self

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        """``K ln A`` per example over its ``K + d`` unpadded steps, pooled over the batch:
        ``K ln(A) / (K + mean d)`` (the loss is the mean over every non-padding step)."""
        return self.K * math.log(self.A) / (self.K + (self.d_min + self.d_max) / 2)


class DelayedRecallTask(_Distances):
    """``mode: cue`` (default): a cue, ``d - 1`` distractors, a recall marker; answer the cue.
    ``mode: stream``: the older fixed-delay form (output the symbol seen ``D`` steps ago at
    every step of a length-``L`` stream). A config that gives ``D`` or ``L`` and no ``mode``
    is the stream form."""

    name: Literal["delayed_recall"] = "delayed_recall"
    mode: Literal["cue", "stream"] = "cue"
    A: Annotated[int, Field(ge=2)] = 8
    n_distractors: PositiveInt = 8
    D: PositiveInt | None = None  # stream only: the delay (default 10)
    L: PositiveInt | None = None  # stream only: the length (default 40)
    d_min: PositiveInt = 2
    d_max: PositiveInt = 40
    solved_threshold: ClassVar[float | None] = 0.99

    @model_validator(mode="before")
    @classmethod
    def _stream_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "mode" not in data and ("D" in data or "L" in data):
            data = {**data, "mode": "stream"}
        if data.get("mode") == "stream":
            data = {"D": 10, "L": 40, **data}
        return data

    @model_validator(mode="after")
    def _length(self) -> DelayedRecallTask:
        if self.mode == "cue":
            if self.D is not None or self.L is not None:
                raise ValueError("task.D and task.L are for mode: stream (cue uses d_min/d_max)")
            self._check_range(1, "the cue comes at least one step before the recall")
        elif self.L < 2 * self.D:
            raise ValueError(f"task.L must be >= 2*D = {2 * self.D} (got {self.L})")
        return self

    @property
    def has_distances(self) -> bool:
        return self.mode == "cue"

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last" if self.mode == "cue" else "per_step"

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        return math.log(self.A)


class QADistanceTask(_Distances):
    """Facts ``key value`` in filler, then a query marker and a key; answer its value."""

    name: Literal["qa_distance"] = "qa_distance"
    n_keys: Annotated[int, Field(ge=1)] = 8
    n_values: Annotated[int, Field(ge=2)] = 8
    n_facts: PositiveInt = 4
    n_filler: PositiveInt = 4
    d_min: PositiveInt = 2
    d_max: PositiveInt = 50
    solved_threshold: ClassVar[float | None] = 0.95

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @model_validator(mode="after")
    def _ranges(self) -> QADistanceTask:
        self._check_range(2, "the queried value sits at least 2 steps before the query's key")
        if self.n_facts > self.n_keys:
            raise ValueError(
                f"task.n_keys must be >= n_facts = {self.n_facts} so distractors have different"
                f" keys (got {self.n_keys})"
            )
        return self

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.n_values

    @property
    def memoryless_loss(self) -> float:
        return math.log(self.n_values)


# DESIGN §2.2 quotes "predicting 1 gives MSE ≈ 0.1767" (after Bai et al. 2018) and defines
# solved as MSE < 1% of that figure; the exact constant-prediction optimum is Var(U1+U2) = 1/6.
BAI_BASELINE_MSE = 0.1767


class AddingTask(_Facts):
    name: Literal["adding"] = "adding"
    T: Annotated[int, Field(ge=2)] = 50
    metric: ClassVar[str] = "val/mse"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float | None] = 0.01 * BAI_BASELINE_MSE

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @property
    def chance_metric(self) -> float:
        return 1.0 / 6.0

    @property
    def memoryless_loss(self) -> float:
        return 1.0 / 6.0


class TemporalOrderTask(_Facts):
    name: Literal["temporal_order"] = "temporal_order"
    L: Annotated[int, Field(ge=10)] = 50
    solved_threshold: ClassVar[float | None] = 0.99

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @property
    def chance_metric(self) -> float:
        return 0.25

    @property
    def memoryless_loss(self) -> float:
        return math.log(4)


class CopyBaiTask(_Facts):
    """Copy memory in Bai et al. 2018's format (rnnstudy.tasks.copy_bai): the marker repeated
    over the last ``K+1`` inputs, each digit fed as one scalar channel; length ``T + 2K``."""

    name: Literal["copy_bai"] = "copy_bai"
    T: PositiveInt = 1000
    K: PositiveInt = 10
    A: Annotated[int, Field(ge=2)] = 8
    solved_threshold: ClassVar[float | None] = 0.99

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        return self.K * math.log(self.A) / (self.T + 2 * self.K)


HELLO_TEXT = "hello " * 50  # built-in toy text (min-char-rnn's "hello" example)


class CharLMTask(_Facts):
    name: Literal["charlm"] = "charlm"
    path: str | None = None  # None = the built-in "hello" text
    seq_len: Annotated[int, Field(ge=2)] = 25
    metric: ClassVar[str] = "val/bpc"
    higher_is_better: ClassVar[bool] = False

    def text(self) -> str:
        """The training text (ValueError naming ``task.path`` if unreadable)."""
        if self.path is None:
            return HELLO_TEXT
        p = Path(self.path)
        if not p.is_file():
            raise ValueError(f"task.path: no such text file: {self.path}")
        try:
            return p.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"task.path: {self.path} is not UTF-8 text ({err.reason})") from None

    @property
    def chance_metric(self) -> float:
        return math.log2(len(set(self.text())))

    @property
    def memoryless_loss(self) -> float:
        """Uniform over the vocabulary: ``ln V``."""
        return math.log(len(set(self.text())))


TaskConfig = Annotated[
    CopyTask
    | DelayedRecallTask
    | QADistanceTask
    | AddingTask
    | TemporalOrderTask
    | CharLMTask
    | CopyBaiTask,
    Field(discriminator="name"),
]
TASK_NAMES = (
    "copy",
    "delayed_recall",
    "qa_distance",
    "adding",
    "temporal_order",
    "charlm",
    "copy_bai",
)


# ---------------------------------------------------------------- model, training (DESIGN §3)


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
    task: TaskConfig = Field(default_factory=CopyTask)
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
