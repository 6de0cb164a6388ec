"""Accuracy against distance per task, cells as colours, seeds as bands, horizons marked: the
first figure of the report (DESIGN §7: "the horizon curves").

Data: the child runs' ``final/acc_by_distance/<d>`` (else the last ``val/acc_by_distance/<d>``)
and their horizons (``rnnstudy.reporting.claim.per_run``: "≥ d_max" where capped; computed by ``rnnstudy.studies.tour``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudy.horizon import HORIZON_ACC
from rnnstudy.reporting import claim
from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.bands import band, by_task, task_figure
from rnnstudy.reporting.figures.base import Figure, style
from rnnstudy.studies.tour import median_horizon

CAPTION = (
    "Final validation accuracy against distance d, one panel per task: line = median over "
    "seeds, band = min–max over seeds, colour = configuration (rnn blue, lstm orange, gru "
    "green). Dashed verticals: each configuration's median memory horizon (the largest d "
    "answered with accuracy ≥ 0.9 together with every shorter one; '≥ d_max' when capped, i.e. "
    "the true horizon may lie beyond the trained range); dotted: the 0.9 threshold; grey: chance."
)


def by_distance(data: ReportData) -> pd.DataFrame:
    """Tidy ``run_id, d, acc`` from ``final/acc_by_distance/<d>`` (else the last ``val/``)."""
    for prefix in ("metrics.final/acc_by_distance/", "metrics.val/acc_by_distance/"):
        cols = [c for c in data.runs.columns if c.startswith(prefix)]
        if cols:
            df = data.runs[["run_id", *cols]].melt("run_id", var_name="d", value_name="acc")
            df["d"] = pd.to_numeric(df["d"].str[len(prefix) :], errors="coerce")
            return df.dropna()
    return pd.DataFrame(columns=["run_id", "d", "acc"])


def build(data: ReportData) -> Figure | None:
    acc = by_distance(data)
    if acc.empty:
        return None
    hz = claim.per_run(data)
    acc, levels, pal = by_task(data, acc)
    tasks = sorted(set(acc["task"]))
    with style():
        fig, axes = task_figure(tasks)
        for i, task in enumerate(tasks):
            ax = axes[i]
            sub = acc[acc["task"] == task]
            for lv in levels:
                text = mark_horizon(ax, hz, sub, lv, pal[lv])
                mine = sub[sub["series"] == lv]
                band(
                    ax, mine, "d", "acc", pal[lv], marker="o", ms=3, label=f"{lv} · horizon {text}"
                )
            ax.axhline(HORIZON_ACC, ls=":", color="0.3", lw=1)
            row = data.runs[data.runs["task"] == task].iloc[0]
            chance = data.baseline_of(row).metric_value
            if chance is not None:
                ax.axhline(chance, ls="--", color="0.6", lw=1)
            d_max = hz.loc[hz["task"] == task, "d_max"].max() if not hz.empty else np.nan
            title = task if np.isnan(d_max) else f"{task} (d ≤ {int(d_max)})"
            ax.set(title=title, xlabel="distance d", ylabel="final val accuracy" if i == 0 else "")
            ax.set_ylim(-0.02, 1.05)
            ax.legend(fontsize="x-small", loc="best", frameon=True)
    return Figure("horizon", "Memory horizon: accuracy against distance", CAPTION, fig)


def mark_horizon(ax, hz: pd.DataFrame, sub: pd.DataFrame, level: str, color) -> str:
    """A dashed vertical at the median horizon of ``level``'s runs in this panel; returns it
    as text ("≥ d_max" when that median is capped, "n/a" when no run has a horizon)."""
    ids = set(sub.loc[sub["series"] == level, "run_id"])
    runs = hz[hz["run_id"].isin(ids)].dropna(subset=["horizon"])
    if runs.empty:
        return "n/a"
    med, text = median_horizon(runs.to_dict("records"), int(runs["d_max"].max()))
    if med > 0:
        ax.axvline(med, ls="--", color=color, lw=1.1, alpha=0.9)
    return text
