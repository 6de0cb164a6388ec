"""Learning curves per task and cell, with the chance level and memoryless baseline drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import (
    Figure,
    legend_outside,
    log_if_wide,
    new_figure,
    palette,
    smooth,
    style,
    thin,
)

CAPTION = (
    "Training loss (left, smoothed; log scale when it spans decades) and the validation metric (right) against "
    "training step, one row per task; colour = configuration, line = mean over seeds, band = "
    "min–max; dashed grey = chance (right) and the memoryless/uniform baseline (left)."
)
MAX_HUES = 10


def order(df: pd.DataFrame) -> list[str]:
    """Series levels with cells in rnn, lstm, gru order, else as they come."""
    first = df.drop_duplicates("series")
    rank = first["cell"].map({"rnn": 0, "lstm": 1, "gru": 2}).fillna(9)
    return list(first.assign(_r=rank).sort_values(["_r", "series"], kind="stable")["series"])


def hue_args(df: pd.DataFrame, data: ReportData) -> dict:
    """Colour by configuration; with many (a sweep) colour by cell and draw each run thin."""
    levels = order(df)
    if len(levels) <= MAX_HUES:
        return {"hue": "series", "palette": palette(levels), "hue_order": levels}
    cells = data.cells(df["cell"])
    return {
        "hue": "cell",
        "palette": palette(cells),
        "hue_order": cells,
        "units": "run_id",
        "estimator": None,
        "lw": 0.6,
        "alpha": 0.5,
    }


def aggregate(df: pd.DataFrame, hue: str, estimator: str = "mean") -> pd.DataFrame:
    """One row per (hue level, step): the estimator and the min–max over runs (vectorised;
    seaborn's own per-x aggregation costs a minute for 100 runs)."""
    g = df.groupby([hue, "step"], sort=False)["value"]
    out = g.agg([estimator, "min", "max"]).reset_index()
    return out.rename(columns={estimator: "value", "min": "lo", "max": "hi"})


def draw(
    ax, df: pd.DataFrame, data: ReportData, band: bool = True, estimator: str = "mean", **extra
) -> None:
    """Lines of ``value`` against ``step`` per hue level: the estimator over runs (seeds) with
    a min–max band, or every run thin when there are too many levels (a sweep)."""
    kw = hue_args(df, data)
    if "units" in kw:
        kw.update(extra)
        sns.lineplot(df, x="step", y="value", ax=ax, **kw)
        return
    agg = aggregate(df, kw["hue"], estimator).sort_values([kw["hue"], "step"])
    sns.lineplot(agg, x="step", y="value", ax=ax, estimator=None, **kw, **extra)
    if band:
        for level, sub in agg.groupby(kw["hue"], sort=False):
            if (sub["hi"] > sub["lo"]).any():
                ax.fill_between(
                    sub["step"], sub["lo"], sub["hi"], color=kw["palette"][level], alpha=0.18, lw=0
                )


def build(data: ReportData) -> Figure | None:
    loss = data.hist("train/loss")
    loss_name = "train loss"
    if loss.empty:
        loss, loss_name = data.hist("val/loss"), "val loss"
    metrics = data.hist(prefix="val/")
    if loss.empty and metrics.empty:
        return None
    tasks = sorted(set(loss["task_label"]) | set(metrics["task_label"]))
    with style():
        fig, axes = new_figure(len(tasks), 2, width=11)
        for r, task in enumerate(tasks):
            runs = data.runs[data.runs["task_label"] == task]
            base = data.baseline_of(runs.iloc[0])
            ax = axes[r, 0]
            sub = thin(smooth(loss[loss["task_label"] == task]))
            sub = sub[np.isfinite(sub["value"])]
            if not sub.empty:
                draw(ax, sub, data)
                log_if_wide(ax, sub["value"])
            if base.loss is not None:
                ax.axhline(base.loss, ls="--", color="0.45", lw=1.2, label=base.loss_label)
            ax.set(title=f"{task}: {loss_name}", xlabel="training step", ylabel="loss")
            legend_outside(ax)
            ax = axes[r, 1]
            m = metrics[(metrics["task_label"] == task) & (metrics["key"] == base.metric)]
            m = m[np.isfinite(m["value"])]
            if not m.empty:
                draw(ax, m, data, marker="o", markersize=3)
            if base.metric_value is not None:
                ax.axhline(base.metric_value, ls="--", color="0.45", lw=1.2, label="chance")
            if base.metric == "val/acc":
                ax.set_ylim(-0.02, 1.02)
            ax.set(title=f"{task}: {base.metric}", xlabel="training step", ylabel=base.metric)
            legend_outside(ax)
    return Figure("learning-curves", "Learning curves", CAPTION, fig)
