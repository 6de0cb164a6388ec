"""Heatmap of log10 ‖∂L/∂h_t‖ over training step (rows) × time step (columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from rnnstudy.reporting.figures.base import Figure, hide_unused, new_figure, style
from rnnstudy.reporting.figures.gradtime import panels

CAPTION = (
    "log10 ‖∂L/∂h_t‖ of layer l0 for every probe (rows, training step growing downwards) and "
    "time step t (columns): a dark left part means early steps receive almost no gradient "
    "(vanishing), a band that brightens down the rows means the gradient grows as training goes on."
)


def log_norms(norms: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(norms)
    out[~np.isfinite(out)] = np.nan
    return out


def build(data) -> Figure | None:
    grid = panels(data)
    if grid is None:
        return None
    with style():
        fig, axes = new_figure(
            grid.nrows, grid.ncols, width=min(11.0, 1.6 + 4.2 * grid.ncols), row_height=2.9
        )
        used = set()
        for (r, c), p in grid.items():
            z = log_norms(p.norms)
            if not np.isfinite(z).any():
                continue
            ax = axes[r, c]
            used.add((r, c))
            frame = pd.DataFrame(z, index=p.steps.astype(int), columns=np.arange(z.shape[1]))
            sns.heatmap(
                frame,
                ax=ax,
                cmap="magma",
                cbar_kws={"label": "log10 ‖∂L/∂h_t‖", "pad": 0.02},
                xticklabels=max(1, z.shape[1] // 8),
                yticklabels=max(1, z.shape[0] // 8),
                rasterized=True,
            )
            ax.set(title=p.title, xlabel="time step t", ylabel="training step")
            ax.tick_params(axis="y", labelrotation=0)
            ax.tick_params(axis="x", labelrotation=0)
        hide_unused(axes, used)
    return Figure("heatmap", "Gradient heatmap", CAPTION, fig)
