"""Sweep: optimisation history (objective per trial, best so far)."""

from __future__ import annotations

import seaborn as sns

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, legend_outside, new_figure, style
from rnnstudy.reporting.figures.sweep import trials

CAPTION = (
    "Objective of every completed trial against trial number (dots) and the best value found so "
    "far (line); a line that stops improving early means more trials of this sampler add little."
)


def build(data: ReportData) -> Figure | None:
    t = trials(data)
    if t is None:
        return None
    done = t.frame.dropna(subset=["value"])
    if done.empty:
        return None
    best = done["value"].cummax() if t.maximize else done["value"].cummin()
    with style():
        fig, axes = new_figure(1, 1, width=9, row_height=3.6)
        ax = axes[0, 0]
        sns.scatterplot(done, x="trial", y="value", hue="state", ax=ax, s=28)
        ax.step(done["trial"], best, where="post", color="C3", lw=1.6, label="best so far")
        goal = "maximised" if t.maximize else "minimised"
        ax.set(title=f"optimisation history ({t.metric}, {goal})", xlabel="trial", ylabel=t.metric)
        legend_outside(ax)
    return Figure("sweep-history", "Sweep: optimisation history", CAPTION, fig)
