"""The horizon growth curves (DESIGN §7): the *learned* horizon against training step, one panel
per task, cells as colours, seeds as bands. A budget-free picture of how fast each cell reaches
each distance: where the budget stops, a curve simply ends.

Data: ``train/learned_d_max`` (the distance schedule's solved upper end, logged when it grows;
``rnnstudy.curriculum``), held constant between changes up to the run's last step
(``final/steps``). This is the learned horizon, not the final accuracy curve (the report's
horizon figure), which can fall back after the schedule widens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.bands import by_task, task_figure
from rnnstudy.reporting.figures.base import Figure, style

KEY = "train/learned_d_max"
CAPTION = (
    "Learned horizon against training step, one panel per task: the distance schedule's solved "
    "upper end (train/learned_d_max: every distance up to it answered at the solved threshold), "
    "line = median over seeds, band = min–max over seeds, colour = cell. This is where the "
    "schedule got to, not the final accuracy by distance (next figure), which can fall back "
    "after the schedule widens. A run stops early once the whole range is solved; its curve "
    "is held at d_max to the longest run's end."
)


def step_curves(hist: pd.DataFrame, ends: pd.Series, grid: np.ndarray) -> pd.DataFrame:
    """Per run, the step function ``value at the last change <= step`` on ``grid`` (NaN before
    the first point); after the run's end it holds its last value."""
    rows = []
    for run_id, h in hist.groupby("run_id"):
        h = h.sort_values("step")
        idx = np.searchsorted(h["step"].to_numpy(), grid, side="right") - 1
        vals = np.where(idx >= 0, h["value"].to_numpy()[np.clip(idx, 0, None)], np.nan)
        rows.append(pd.DataFrame({"run_id": run_id, "step": grid, "value": vals}))
    return pd.concat(rows) if rows else pd.DataFrame(columns=["run_id", "step", "value"])


def build(data: ReportData) -> Figure | None:
    hist = data.history[data.history["key"] == KEY]
    if hist.empty:
        return None
    ends = data.metric("final/steps").set_axis(data.runs["run_id"])
    last = int(np.nanmax([hist["step"].max(), np.nanmax(ends.to_numpy(dtype=float))]))
    grid = np.unique(np.linspace(0, last, 200).astype(int))
    curves = step_curves(hist, ends, grid)
    df, levels, pal = by_task(data, curves)
    tasks = sorted(set(df["task"]))
    with style():
        fig, axes = task_figure(tasks)
        for i, task in enumerate(tasks):
            ax = axes[i]
            sub = df[df["task"] == task]
            for lv in levels:
                mine = sub[sub["series"] == lv]
                if mine.empty:
                    continue
                s = mine.groupby("step")["value"].agg(["median", "min", "max"]).reset_index()
                ax.fill_between(
                    s["step"], s["min"], s["max"], color=pal[lv], alpha=0.18, lw=0, step="post"
                )
                ax.step(s["step"], s["median"], where="post", color=pal[lv], lw=1.6, label=lv)
            d_max = data.param("task.d_max")[data.runs["task"] == task]
            top = pd.to_numeric(d_max, errors="coerce").max()
            if np.isfinite(top):
                ax.axhline(top, ls=":", color="0.4", lw=1)
            ax.set(
                title=task, xlabel="training step", ylabel="learned horizon (d)" if i == 0 else ""
            )
            ax.legend(fontsize="x-small", loc="lower right", frameon=True)
    return Figure("growth", "Horizon growth: learned horizon against training step", CAPTION, fig)
