"""Pre-clip gradient norm over training with the clip threshold drawn, and the clip rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import (
    Figure,
    legend_outside,
    new_figure,
    smooth,
    style,
    thin,
)
from rnnstudy.reporting.figures.learning import draw

CAPTION = (
    "Left: total gradient norm before clipping (log scale, running mean, median over seeds) "
    "against training step, dashed = the norm threshold τ of clip.mode=norm; right: running fraction of steps "
    "that were clipped. Spikes far above τ are exploding gradients that clipping cut down."
)


def thresholds(runs: pd.DataFrame) -> list[float]:
    if "params.clip.mode" not in runs or "params.clip.value" not in runs:
        return []
    norm = runs[runs["params.clip.mode"] == "norm"]
    vals = pd.to_numeric(norm["params.clip.value"], errors="coerce").dropna()
    return sorted(set(vals))


def build(data: ReportData) -> Figure | None:
    pre = data.hist("grad/norm_preclip")
    pre = pre[np.isfinite(pre["value"]) & (pre["value"] > 0)]
    if pre.empty:
        return None
    rate = data.hist("grad/clip_rate")
    tasks = sorted(set(pre["task_label"]))
    with style():
        fig, axes = new_figure(len(tasks), 2, width=11)
        for r, task in enumerate(tasks):
            ax = axes[r, 0]
            sub = thin(smooth(pre[pre["task_label"] == task], points=100))
            draw(ax, sub, data, band=False, estimator="median", lw=0.9)
            ax.set_yscale("log")
            runs = data.runs[data.runs["task_label"] == task]
            for tau in thresholds(runs):
                ax.axhline(tau, ls="--", color="0.3", lw=1.1, label=f"τ = {tau:g}")
            ax.set(
                title=f"{task}: pre-clip gradient norm",
                xlabel="training step",
                ylabel="‖∇θ L‖ before clipping",
            )
            legend_outside(ax)
            ax = axes[r, 1]
            sub = thin(rate[rate["task_label"] == task])
            sub = sub[np.isfinite(sub["value"])]
            if not sub.empty:
                draw(ax, sub, data)
            ax.set_ylim(-0.02, 1.02)
            ax.set(
                title=f"{task}: clip rate",
                xlabel="training step",
                ylabel="fraction of steps clipped",
            )
            legend_outside(ax)
    return Figure("clipping", "Gradient norm and clipping", CAPTION, fig)
