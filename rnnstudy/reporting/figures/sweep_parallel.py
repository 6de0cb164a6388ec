"""Sweep: parallel coordinates of the swept parameters, coloured by the objective."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import cm
from matplotlib.colors import Normalize

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, new_figure, style
from rnnstudy.reporting.figures.sweep import trials

CAPTION = (
    "Each completed trial is one line through its parameter values (axes scaled to the range "
    "tried; log axes for log-sampled parameters) ending at its objective; bright = good. "
    "Where the bright lines bunch on an axis is the good region of that parameter."
)


def scaled(col: pd.Series, spec: dict) -> tuple[np.ndarray, list[str]]:
    """Values mapped to [0, 1] and the two end labels of the axis."""
    num = pd.to_numeric(col, errors="coerce")
    if spec.get("type") == "categorical" or num.isna().any():
        cats = sorted(set(col.astype(str)))
        pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
        return col.astype(str).map(pos).to_numpy(float), [cats[0], cats[-1]]
    v = num.to_numpy(float)
    lo_lab, hi_lab = f"{np.nanmin(v):.3g}", f"{np.nanmax(v):.3g}"
    if spec.get("log") and (v > 0).all():
        v = np.log10(v)
    lo, hi = np.nanmin(v), np.nanmax(v)
    return ((v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5)), [lo_lab, hi_lab]


def build(data: ReportData) -> Figure | None:
    t = trials(data)
    if t is None or not t.space:
        return None
    done = t.frame.dropna(subset=["value"])
    paths = [p for p in t.space if p in done and done[p].notna().all()]
    if len(done) < 2 or not paths:
        return None
    axes_names = [*paths, t.metric]
    cols, ends = [], []
    for p in paths:
        v, e = scaled(done[p], t.space[p])
        cols.append(v)
        ends.append(e)
    v, e = scaled(done["value"], {})
    cols.append(v)
    ends.append(e)
    mat = np.vstack(cols).T
    norm = Normalize(done["value"].min(), done["value"].max())
    cmap = matplotlib.colormaps["viridis" if t.maximize else "viridis_r"]
    order = np.argsort(done["value"].to_numpy() * (1 if t.maximize else -1))  # best on top
    x = np.arange(len(axes_names))
    with style():
        fig, axs = new_figure(1, 1, width=max(8.0, 1.8 * len(axes_names)), row_height=3.8)
        ax = axs[0, 0]
        for i in order:
            ax.plot(x, mat[i], color=cmap(norm(done["value"].iloc[i])), lw=1.1, alpha=0.8)
        for xi, (lo, hi) in zip(x, ends, strict=True):
            ax.axvline(xi, color="0.3", lw=0.8)
            ax.text(xi, -0.08, lo, ha="center", va="top", fontsize="x-small")
            ax.text(xi, 1.08, hi, ha="center", va="bottom", fontsize="x-small")
        ax.set_xticks(x, axes_names)
        ax.set_yticks([])
        ax.set_ylim(-0.2, 1.2)
        ax.grid(False)
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=t.metric, pad=0.02)
        ax.set_title("parallel coordinates of completed trials")
    return Figure("sweep-parallel", "Sweep: parallel coordinates", CAPTION, fig)
