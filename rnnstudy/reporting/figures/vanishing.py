"""The vanishing/exploding picture: ‖∂L/∂h_t‖ against time step at several training stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from rnnstudy.reporting.figures.base import Figure, hide_unused, new_figure, style
from rnnstudy.reporting.figures.gradtime import Panel, panels

CAPTION = (
    "Total BPTT gradient ‖∂L/∂h_t‖ of layer l0 (log scale) against time step t, one line per "
    "training stage (dark = late); a line falling towards early t means the gradient vanishes "
    "on its way back, a rising one that it explodes. One representative run (lowest seed) per panel."
)
STAGES = 5


def stages(steps: np.ndarray, n: int = STAGES) -> list[int]:
    """Indices of up to ``n`` probes spread evenly over training, first and last included."""
    if len(steps) <= n:
        return list(range(len(steps)))
    targets = np.linspace(steps[0], steps[-1], n)
    return sorted({int(np.abs(steps - t).argmin()) for t in targets})


def tidy(p: Panel) -> pd.DataFrame:
    rows = []
    for i in stages(p.steps):
        norms = p.norms[i]
        ok = np.isfinite(norms) & (norms > 0)
        t = np.arange(len(norms))[ok]
        rows.append(pd.DataFrame({"t": t, "norm": norms[ok], "step": int(p.steps[i])}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def build(data) -> Figure | None:
    grid = panels(data)
    if grid is None:
        return None
    with style():
        fig, axes = new_figure(grid.nrows, grid.ncols, row_height=2.9)
        used = set()
        for (r, c), p in grid.items():
            df = tidy(p)
            if df.empty:
                continue
            ax = axes[r, c]
            used.add((r, c))
            n = df["step"].nunique()
            sns.lineplot(
                df,
                x="t",
                y="norm",
                hue="step",
                ax=ax,
                palette=sns.color_palette("viridis_r", n),
                legend="full",
                lw=1.3,
            )
            ax.set_yscale("log")
            ax.set(title=p.title, xlabel="time step t", ylabel="‖∂L/∂h_t‖")
            ax.legend(
                title="training step",
                fontsize="x-small",
                title_fontsize="x-small",
                loc="best",
                frameon=True,
            )
        hide_unused(axes, used)
    return Figure("vanishing", "Gradient through time", CAPTION, fig)
