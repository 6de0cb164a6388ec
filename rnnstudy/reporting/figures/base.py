"""What every figure shares: the ``Figure`` record, a seaborn-styled matplotlib figure
(no pyplot, so no global state and no display backend), PNG encoding, small helpers."""

from __future__ import annotations

import colorsys
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure as MplFigure

matplotlib.use("Agg", force=False)  # MPLBACKEND=agg for headless runs; never a GUI window


@dataclass
class Figure:
    """One report figure: a slug for anchors, a title, a one-line caption saying how to read it."""

    slug: str
    title: str
    caption: str
    fig: MplFigure
    lead: bool = False  # on the report's first screen (the tour's claim), set by build_all

    def png(self, dpi: int = 100) -> bytes:
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
        return buf.getvalue()


@contextmanager
def style() -> Iterator[None]:
    """Seaborn's whitegrid theme for everything created inside (rc_context, not global)."""
    rc = {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook", font_scale=0.8),
        "axes.prop_cycle": matplotlib.cycler(color=sns.color_palette("deep")),
        "figure.dpi": 100,
        "svg.fonttype": "none",
    }
    with matplotlib.rc_context(rc):
        yield


def new_figure(nrows: int, ncols: int, width: float | None = None, row_height: float = 2.8, **kw):
    """(figure, 2-D array of axes), constrained layout; width defaults to ~3.7 in a column."""
    width = width or min(11.0, 1.2 + 3.7 * ncols)
    fig = MplFigure(figsize=(width, max(2.4, row_height * nrows + 0.4)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


CELL_COLOR = {"rnn": 0, "lstm": 1, "gru": 2}  # index into seaborn's "deep" palette


def _shades(base: tuple, k: int) -> list[tuple]:
    """``k`` shades of one hue, dark to light (the base colour itself when k == 1)."""
    if k == 1:
        return [base]
    h, _, s = colorsys.rgb_to_hls(*base)
    return [colorsys.hls_to_rgb(h, lum, s) for lum in np.linspace(0.28, 0.68, k)]


def palette(levels: list[str]) -> dict[str, tuple]:
    """Stable colours. A level that is a cell, or starts with one (``rnn · clip=none``), takes
    that cell's hue (rnn blue, lstm orange, gru green), in shades when a cell has several
    levels; other levels take the remaining "deep" colours in order (husl beyond that)."""
    deep = sns.color_palette("deep", 10)
    families: dict[str, list[str]] = {}
    rest = []
    for lv in levels:
        cell = lv.split(" · ", 1)[0]
        (families.setdefault(cell, []) if cell in CELL_COLOR else rest).append(lv)
    out: dict[str, tuple] = {}
    for cell, lvs in families.items():
        out.update(zip(lvs, _shades(deep[CELL_COLOR[cell]], len(lvs)), strict=True))
    taken = {CELL_COLOR[c] for c in families}
    free = [deep[i] for i in range(10) if i not in taken]
    if len(rest) > len(free):
        free = sns.color_palette("husl", len(rest))
    out.update(zip(rest, free, strict=False))
    return out


def hide_unused(axes: np.ndarray, used: set[tuple[int, int]]) -> None:
    for (r, c), ax in np.ndenumerate(axes):
        if (r, c) not in used:
            ax.set_visible(False)


def smooth(
    df: pd.DataFrame, col: str = "value", by: str = "run_id", points: int = 150
) -> pd.DataFrame:
    """Rolling mean per run so that a noisy per-step curve keeps about ``points`` wiggles."""
    if df.empty:
        return df
    n = df.groupby(by)["step"].transform("size")
    win = max(1, int(n.max() // points))
    if win <= 1:
        return df
    df = df.sort_values([by, "step"]).copy()
    df[col] = df.groupby(by)[col].transform(lambda s: s.rolling(win, min_periods=1).mean())
    return df


def thin(df: pd.DataFrame, points: int = 300, by: str = "run_id") -> pd.DataFrame:
    """Keep at most ``points`` steps per run (evenly), so 100 runs plot in a second."""
    if df.empty:
        return df
    steps = np.sort(df["step"].unique())
    if len(steps) <= points:
        return df
    keep = steps[np.linspace(0, len(steps) - 1, points).round().astype(int)]
    return df[df["step"].isin(keep)]


def legend_outside(ax, title: str | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.legend(
            handles,
            labels,
            title=title,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            frameon=False,
            fontsize="small",
            title_fontsize="small",
        )


def log_if_wide(ax, values: pd.Series, ratio: float = 20.0) -> None:
    """Log y axis when the positive values span more than ``ratio`` (else linear reads better)."""
    v = pd.to_numeric(values, errors="coerce")
    v = v[np.isfinite(v)]
    if len(v) and (v > 0).all() and v.max() / v.min() > ratio:
        ax.set_yscale("log")
