"""An experiment file: a base run config, a grid, profiles; one parent MLflow run, a child per
point, a summary table at the end.

Profiles are named override sets: ``profiles: {quick: {train.max_steps: 50, grid: {seed: [0]}}}``
— dotted keys override the base, the optional ``grid`` mapping replaces grid axes. ``--set`` on
a path that is a grid axis pins that axis to the one value.

The grid is the product of its axes. The reserved axis ``cases`` holds settings that go
together (a zipped axis): each value is a mapping of dotted paths applied at once, with an
optional ``label``, e.g. a model size per task::

    grid:
      cases:
        - {label: adding-lstm, task: {name: adding, T: 600}, model.cell: lstm, model.hidden_size: 130}
        - {label: copy-lstm, task: {name: copy, T: 1000}, model.cell: lstm, model.hidden_size: 57}
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnnstudy.config import (
    TASK_NAMES,
    ConfigError,
    RunConfig,
    apply_overrides,
    format_error,
    parse_run,
)
from rnnstudy.labels import point_labels
from rnnstudy.studies import STUDIES
from rnnstudy.sweeps.space import TAGS as SWEEP_TAGS
from rnnstudy.sweeps.space import SweepSpec
from rnnstudy.tasks import build_task

# ---------------------------------------------------------------- the file, typed


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# the study kinds are the registered studies (rnnstudy.studies.STUDIES), in its order
StudyKind = Literal[tuple(STUDIES)]  # type: ignore[valid-type]


class Published(_Strict):
    """A published figure to show beside ours (``summary.published``, kind ``reproduction``)."""

    match: dict[str, Any] = Field(default_factory=dict)  # resolved-config fields (dotted)
    metric: str  # a metric key of the child runs, or success_rate / diverged_rate
    value: float | str | None = None  # a number, or the paper's words where it gives none
    source: str = ""


class SummarySpec(_Strict):
    """The ``summary:`` section: which study summarises the runs (``rnnstudy.studies``), the
    tags put on the parent and every child (e.g. ``{repro: pascanu2013}``), published figures."""

    kind: StudyKind = "default"
    tags: dict[str, str] = Field(default_factory=dict)
    published: list[Published] = Field(default_factory=list)


class ExperimentFile(_Strict):
    name: Annotated[str, Field(pattern=r"^[\w.\-]+$")]
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)  # a run config, validated per point
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sweep: SweepSpec | None = None  # ``rnnstudy sweep`` (rnnstudy/sweeps/space.py)
    summary: SummarySpec = Field(default_factory=SummarySpec)


def _yaml_error(path: str | Path, err: yaml.YAMLError) -> str:
    """``FILE:LINE:COLUMN: problem`` (1-based) for a YAML syntax error, on one line."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    text = f"{context}: {problem}" if context else problem
    return f"{where}: invalid YAML: {' '.join(str(text).split())}"


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error(path, err)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_experiment(path: str | Path) -> ExperimentFile:
    """The experiment file, typed; any problem is one ``FILE: path: problem`` line."""
    data = load_yaml(path)
    try:
        return ExperimentFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {format_error(err, tags=(*TASK_NAMES, *SWEEP_TAGS))}") from None


# ---------------------------------------------------------------- points


@dataclass
class Point:
    label: str  # "rnn · copy · seed=0" (rnnstudy.labels), the child run's name and tag `point`
    values: dict[str, Any]  # the grid values of this point
    config: RunConfig
    config_label: str = ""  # "rnn · copy": the point minus its seed, the child's tag `config`


CASES = "cases"


def _point_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Grid values as dotted overrides; a ``cases`` value contributes all its paths."""
    out: dict[str, Any] = {}
    for axis, v in values.items():
        if axis == CASES:
            if not isinstance(v, dict):
                raise ConfigError(f"grid.cases: each case must be a mapping of paths (got {v!r})")
            out.update({k: x for k, x in v.items() if k != "label"})
        else:
            out[axis] = v
    return out


def resolve(exp: ExperimentFile, profile: str | None, sets: dict[str, Any]) -> tuple[dict, dict]:
    """(base dict, grid) after the profile and the ``--set`` overrides."""
    base = dict(exp.base)
    grid = dict(exp.grid)
    if profile is not None:
        if profile not in exp.profiles:
            allowed = ", ".join(sorted(exp.profiles)) or "none defined"
            raise ConfigError(f"--profile: unknown profile {profile!r}; allowed: {allowed}")
        over = dict(exp.profiles[profile])
        grid.update(over.pop("grid", {}) or {})
        base = apply_overrides(base, over)
    for path, value in sets.items():
        if path in grid:
            grid[path] = [value]
        for axis, values in grid.items():  # task.T=9 reaches into a grid of task dicts
            if path.startswith(axis + "."):
                sub = path[len(axis) + 1 :]
                grid[axis] = [
                    apply_overrides(v, {sub: value}) if isinstance(v, dict) else v for v in values
                ]
    base = apply_overrides(base, {k: v for k, v in sets.items()})
    return base, grid


def expand(
    exp: ExperimentFile, profile: str | None = None, sets: dict | None = None
) -> list[Point]:
    """Every grid point as a validated RunConfig. Any bad point fails here, before any run."""
    base, grid = resolve(exp, profile, sets or {})
    axes = list(grid)
    points = []
    for combo in itertools.product(*(grid[a] for a in axes)) if axes else [()]:
        values = dict(zip(axes, combo, strict=True))
        # --set wins over the grid, also over the paths inside a ``cases`` value
        data = apply_overrides(apply_overrides(base, _point_overrides(values)), sets or {})
        label = point_labels(grid, values, skip=None) if axes else "base"
        data.setdefault("name", label)
        try:
            cfg = checked_config(data)
        except ConfigError as err:
            where = f" (grid point {label})" if axes else ""
            raise ConfigError(f"{err}{where}") from None
        points.append(Point(label, values, cfg, point_labels(grid, values) if axes else "base"))
    return points


def base_config(exp: ExperimentFile, profile: str | None, sets: dict) -> RunConfig:
    """The single run ``rnnstudy run FILE`` does: the base with overrides, grid ignored."""
    base, _ = resolve(exp, profile, sets)
    base.setdefault("name", exp.name)
    return checked_config(base)


def checked_config(data: dict[str, Any]) -> RunConfig:
    """Parse a run config and build its task (a task can refuse its config, e.g. a missing
    text file): every problem becomes one ConfigError line, before any run starts."""
    cfg = parse_run(data)
    try:
        build_task(cfg.task)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return cfg
