"""What the first-screen figures share: one panel per task, one line per configuration
(median over seeds) with a min–max band over seeds."""

from __future__ import annotations

import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import new_figure, palette

MAX_SERIES = 10  # beyond this many configurations, colour by cell only


def series_order(runs: pd.DataFrame, data: ReportData) -> list[str]:
    """Configurations with cells in rnn, lstm, gru order."""
    first = runs.drop_duplicates("series")
    rank = first["cell"].map({c: i for i, c in enumerate(data.cells(runs["cell"]))})
    return list(first.assign(_r=rank).sort_values(["_r", "series"], kind="stable")["series"])


def by_task(data: ReportData, tidy: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict]:
    """``tidy`` (one row per run and x) with ``task, series, cell`` added, the configuration
    levels to draw, and their colours."""
    runs = data.runs[["run_id", "task", "series", "cell"]]
    df = tidy.merge(runs, on="run_id")
    levels = series_order(runs[runs["run_id"].isin(df["run_id"])], data)
    if len(levels) > MAX_SERIES:
        levels = data.cells(runs["cell"])
        df["series"] = df["cell"]
    return df, levels, palette(levels)


def task_figure(tasks: list[str]):
    """(figure, axes row): one panel per task side by side, y shared."""
    fig, axes = new_figure(1, len(tasks), width=min(15.0, 1.0 + 4.6 * len(tasks)), sharey=True)
    return fig, axes[0]


def band(ax, sub: pd.DataFrame, x: str, y: str, color, **line) -> bool:
    """Median of ``y`` over the runs at each ``x`` (a line) and the min–max band; False if
    ``sub`` is empty."""
    if sub.empty:
        return False
    s = sub.groupby(x)[y].agg(["median", "min", "max"]).reset_index()
    ax.fill_between(s[x], s["min"], s["max"], color=color, alpha=0.18, lw=0)
    ax.plot(s[x], s["median"], color=color, lw=1.6, **line)
    return True
