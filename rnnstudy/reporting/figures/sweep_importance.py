"""Sweep: parameter importances (the parent's ``importances.csv``)."""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, legend_outside, new_figure, style

CAPTION = (
    "Share of the objective's variation attributed to each swept parameter by each method "
    "(fANOVA, PED-ANOVA; each sums to 1); tune the long bars first, fix the short ones."
)


def importances(data: ReportData) -> pd.DataFrame | None:
    df = data.store.parent_csv("importances.csv")
    if df is None or "param" not in df or len(df.columns) < 2:
        return None
    long = df.melt("param", var_name="method", value_name="importance")
    long["importance"] = pd.to_numeric(long["importance"], errors="coerce")
    long = long.dropna()
    return long if not long.empty else None


def build(data: ReportData) -> Figure | None:
    if not data.is_sweep:
        return None
    df = importances(data)
    if df is None:
        return None
    order = df.groupby("param")["importance"].mean().sort_values(ascending=False).index.tolist()
    with style():
        fig, axes = new_figure(1, 1, width=9, row_height=max(2.6, 0.45 * len(order) + 1))
        ax = axes[0, 0]
        sns.barplot(df, y="param", x="importance", hue="method", order=order, ax=ax)
        ax.set(title="parameter importances", xlabel="importance", ylabel="")
        legend_outside(ax, "method")
    return Figure("sweep-importance", "Sweep: parameter importances", CAPTION, fig)
