"""Credit at the source by distance (DESIGN §4): how much gradient reaches the step that must be
remembered, against the distance back to it, at initialisation (first probe) and at the end
(last probe). One column per task, cells as colours, seeds as bands, log scale.

Data: ``credit/l0/by_distance/<d>`` histories (median over the bucket's examples at each probe,
on the batch trained on: under the distance schedule only the distances being trained on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.bands import by_task
from rnnstudy.reporting.figures.base import Figure, new_figure, style

PREFIX = "credit/l0/by_distance/"
CAPTION = (
    "Gradient norm at the step that must be remembered, ‖∂L/∂h_source‖ (LSTM: with the cell "
    "state), median over the examples of each distance bucket, against distance d; top row at "
    "the first probe (initialisation), bottom row at the last. Line = median over seeds, band "
    "= min–max, colour = cell, log scale. A line that falls steeply is the vanishing gradient; "
    "under the distance schedule a run only measures the distances it was training on."
)


def moments(h: pd.DataFrame) -> pd.DataFrame:
    """``run_id, when (init/end), d, value`` from each run's first and last probe."""
    h = h.assign(d=pd.to_numeric(h["key"].str[len(PREFIX) :], errors="coerce"))
    first = h.groupby("run_id")["step"].transform("min")
    last = h.groupby("run_id")["step"].transform("max")
    init = h[h["step"] == first].assign(when="init")
    end = h[h["step"] == last].assign(when="end")
    return pd.concat([init, end])[["run_id", "when", "d", "value"]]


def build(data: ReportData) -> Figure | None:
    h = data.history[data.history["key"].str.startswith(PREFIX)]
    if h.empty:
        return None
    df, levels, pal = by_task(data, moments(h))
    df = df[df["value"] > 0]
    tasks = sorted(set(df["task"]))
    if not tasks:
        return None
    with style():
        fig, axes = new_figure(2, len(tasks), width=min(15.0, 1.0 + 4.6 * len(tasks)), sharey="row")
        for j, task in enumerate(tasks):
            for i, when in enumerate(("init", "end")):
                ax = axes[i][j]
                sub = df[(df["task"] == task) & (df["when"] == when)]
                for lv in levels:
                    mine = sub[sub["series"] == lv]
                    if mine.empty:
                        continue
                    s = mine.groupby("d")["value"].agg(["median", "min", "max"]).reset_index()
                    ax.fill_between(s["d"], s["min"], s["max"], color=pal[lv], alpha=0.18, lw=0)
                    ax.plot(s["d"], s["median"], color=pal[lv], lw=1.6, marker="o", ms=3, label=lv)
                ax.set_yscale("log")
                label = "initialisation" if when == "init" else "end of training"
                ax.set(title=f"{task} · {label}", xlabel="distance d" if i == 1 else "")
                if j == 0:
                    ax.set_ylabel("credit ‖∂L/∂h_source‖")
                if np.isfinite(sub["value"]).any():
                    ax.legend(fontsize="x-small", loc="best", frameon=True)
    return Figure("credit", "Credit at the source against distance", CAPTION, fig)
