"""Spectral radius of W_hh (and of each gate block) over training."""

from __future__ import annotations

import numpy as np
import seaborn as sns

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, hide_unused, new_figure, style, thin

CAPTION = (
    "Spectral radius of the recurrent weights W_hh of layer l0 against training step (for LSTM "
    "and GRU of each gate block), mean over runs with min–max band; above the dotted line at 1 "
    "the linearised recurrence amplifies, below it contracts (gradients explode / vanish)."
)


def block(key: str) -> str:
    """``spectral/weight_hh_l0.f/radius`` -> ``f``; ``spectral/weight_hh_l0/radius`` -> ``W_hh``."""
    param = key.split("/")[1]
    _, _, gate = param.partition(".")
    return gate or "W_hh"


def build(data: ReportData) -> Figure | None:
    h = data.hist(prefix="spectral/weight_hh_l0")
    h = h[h["key"].str.endswith("/radius") & ~h["key"].str.contains("_reverse")]
    h = h[np.isfinite(h["value"])]
    if h.empty:
        return None
    h = h.assign(block=h["key"].map(block))
    tasks = sorted(set(h["task_label"]))
    cells = data.cells(h["cell"])
    with style():
        fig, axes = new_figure(len(tasks), len(cells), row_height=2.7)
        used = set()
        for r, task in enumerate(tasks):
            for c, cell in enumerate(cells):
                sub = thin(h[(h["task_label"] == task) & (h["cell"] == cell)])
                if sub.empty:
                    continue
                ax = axes[r, c]
                used.add((r, c))
                order = sorted(set(sub["block"]), key=lambda b: (b != "W_hh", b))
                sns.lineplot(
                    sub,
                    x="step",
                    y="value",
                    hue="block",
                    hue_order=order,
                    ax=ax,
                    errorbar=("pi", 100),
                    palette=sns.color_palette("colorblind", len(order)),
                )
                ax.axhline(1.0, ls=":", color="0.3", lw=1)
                ax.set(title=f"{cell} · {task}", xlabel="training step", ylabel="spectral radius")
                ax.legend(title="block", fontsize="x-small", title_fontsize="x-small")
        hide_unused(axes, used)
    return Figure("spectrum", "Recurrent weight spectrum", CAPTION, fig)
