"""Accuracy by question–answer distance, with the memory horizon marked (qa_distance runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, legend_outside, new_figure, palette, style

CAPTION = (
    "Final validation accuracy per question–answer distance bucket (mean over seeds, bars = "
    "min–max); the dotted line at 0.9 defines the memory horizon, the largest distance still "
    "answered with accuracy ≥ 0.9, marked by a dashed vertical line per configuration; grey = chance."
)
HORIZON_ACC = 0.9


def by_distance(data: ReportData) -> pd.DataFrame:
    """Tidy ``run_id, d, acc`` from ``final/acc_by_distance/<d>`` (else the last ``val/``)."""
    for prefix in ("metrics.final/acc_by_distance/", "metrics.val/acc_by_distance/"):
        cols = [c for c in data.runs.columns if c.startswith(prefix)]
        if cols:
            df = data.runs[["run_id", *cols]].melt("run_id", var_name="d", value_name="acc")
            df["d"] = pd.to_numeric(df["d"].str[len(prefix) :], errors="coerce")
            return df.dropna()
    return pd.DataFrame(columns=["run_id", "d", "acc"])


def horizon(data: ReportData) -> pd.Series:
    h = data.metric("final/memory_horizon")
    return h.fillna(data.metric("val/memory_horizon"))


def mark_horizons(ax, sub: pd.DataFrame, levels: list[str], pal: dict) -> None:
    """A dashed vertical line per distinct horizon (mean over seeds), coloured by its
    configuration, or grey when several configurations share it."""
    runs = sub.drop_duplicates("run_id")
    h = runs.groupby("series")["horizon"].mean()
    by_value: dict[float, list[str]] = {}
    for lv in levels:
        v = h.get(lv, np.nan)
        if np.isfinite(v) and v > 0:
            by_value.setdefault(round(float(v), 1), []).append(lv)
    for v, lvs in sorted(by_value.items()):
        color = pal[lvs[0]] if len(lvs) == 1 else "0.35"
        who = lvs[0] if len(lvs) == 1 else f"{len(lvs)} configurations"
        ax.axvline(v, ls="--", color=color, lw=1.2, label=f"horizon {v:g} ({who})")


def build(data: ReportData) -> Figure | None:
    acc = by_distance(data)
    if acc.empty:
        return None
    runs = data.runs.assign(horizon=horizon(data))
    acc = acc.merge(runs[["run_id", "task_label", "series", "horizon"]], on="run_id")
    tasks = sorted(set(acc["task_label"]))
    with style():
        fig, axes = new_figure(len(tasks), 1, width=9, row_height=3.2)
        for r, task in enumerate(tasks):
            ax = axes[r, 0]
            sub = acc[acc["task_label"] == task]
            levels = list(dict.fromkeys(sub["series"]))
            hue = "series" if len(levels) <= 10 else None
            pal = palette(levels) if hue else None
            sns.lineplot(
                sub,
                x="d",
                y="acc",
                hue=hue,
                hue_order=levels if hue else None,
                palette=pal,
                marker="o",
                errorbar=("pi", 100),
                err_style="bars",
                ax=ax,
            )
            if hue:
                mark_horizons(ax, sub, levels, pal)
            ax.axhline(HORIZON_ACC, ls=":", color="0.3", lw=1)
            base = data.baseline_of(runs[runs["task_label"] == task].iloc[0])
            if base.metric_value is not None:
                ax.axhline(base.metric_value, ls="--", color="0.6", lw=1, label="chance")
            ax.set_ylim(-0.02, 1.02)
            ax.set(
                title=f"{task}: accuracy by distance",
                xlabel="question–answer distance d",
                ylabel="final val accuracy",
            )
            legend_outside(ax)
    return Figure("distance", "Accuracy by distance", CAPTION, fig)
