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
import math
from dataclasses import dataclass
from typing import Any

from rnnstudy.config import (
    ConfigError,
    ExperimentFile,
    RunConfig,
    apply_overrides,
    parse_run,
)
from rnnstudy.labels import value_label
from rnnstudy.tasks import build_task


@dataclass
class Point:
    label: str  # "model.cell=rnn task=copy seed=0"
    values: dict[str, Any]  # the grid values of this point
    config: RunConfig


CASES = "cases"


def _short(axis: str, v: Any, siblings: list[Any]) -> str:
    return value_label(axis, v, siblings) if isinstance(v, dict) else str(v)


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
        label = " ".join(f"{a}={_short(a, v, grid[a])}" for a, v in values.items()) or "base"
        data.setdefault("name", label)
        try:
            cfg = checked_config(data)
        except ConfigError as err:
            where = f" (grid point {label})" if axes else ""
            raise ConfigError(f"{err}{where}") from None
        points.append(Point(label, values, cfg))
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


def summary_rows(results) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        c = r.config
        task = build_task(c.task)
        key = "final/" + task.metric.split("/", 1)[1]
        rows.append(
            {
                "point": c.name,
                "cell": c.model.cell,
                "task": c.task.name,
                "clip": c.clip.label(),
                "seed": c.seed,
                "outcome": r.outcome,
                "metric": task.metric,
                "final": r.metrics.get(key, math.nan),
                "chance": task.chance_metric,
                "steps_to_solve": r.steps_to_solve,
                "seconds": round(r.seconds, 1),
            }
        )
    return rows


def fmt(v: Any) -> str:
    """One table cell: 4 significant digits, '-' for missing or NaN."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(no runs)"
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)
