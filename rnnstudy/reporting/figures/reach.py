"""Does the gradient's reach predict the memory? Propagation decay rate (else the top Lyapunov
exponent λ₁) against memory horizon, one point per run (DESIGN §7).

Colour = cell, marker = task; a capped horizon ("≥ d_max": the true horizon may lie beyond
the trained range) is drawn as a right-pointing triangle. Runs without the y metric are left
out; with none at all there is no figure.
"""

from __future__ import annotations

import numpy as np

from rnnstudy.reporting import claim
from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, legend_outside, new_figure, palette, style

#: (metric, axis label), in order of preference
Y_METRICS = (
    # the rate, not the half-life: a rate near 0 sends the half-life to ±∞ (DESIGN §4)
    ("propagation/l0/decay_per_step", "propagation decay rate (slope of ln ρ per step)"),
    ("lyapunov/l0/l1", "top Lyapunov exponent λ₁ (per step)"),
)
MARKERS = ["o", "s", "D", "v", "P", "X"]
CAPTION = (
    "One point per run: memory horizon (x) against {what} of layer l0 (y); colour = cell, "
    "marker = task; ▶ = horizon capped at d_max (≥ d_max). If the gradient's reach predicts "
    "the memory, the points rise from left to right (a slower decay is a rate nearer 0)."
)


def build(data: ReportData) -> Figure | None:
    hz = claim.per_run(data).dropna(subset=["horizon"])
    found = [(key, label) for key, label in Y_METRICS if data.metric(key).notna().any()]
    if not found:
        return None
    key, label = found[0]
    y = data.metric(key)
    pts = hz.merge(data.runs[["run_id"]].assign(y=y.values), on="run_id").dropna(subset=["y"])
    pts = pts[np.isfinite(pts["y"].astype(float))]
    if pts.empty:
        return None
    cells = data.cells(pts["cell"])
    pal = palette(cells)
    tasks = sorted(set(pts["task"]))
    with style():
        fig, axes = new_figure(1, 1, width=7.2, row_height=3.6)
        ax = axes[0, 0]
        for ti, task in enumerate(tasks):
            for cell in cells:
                sub = pts[(pts["task"] == task) & (pts["cell"] == cell)]
                for capped, marker in ((False, MARKERS[ti % len(MARKERS)]), (True, ">")):
                    s = sub[sub["capped"] == capped]
                    if s.empty:
                        continue
                    ax.scatter(
                        s["horizon"],
                        s["y"],
                        color=pal[cell],
                        marker=marker,
                        s=42,
                        alpha=0.85,
                        edgecolor="white",
                        linewidth=0.5,
                        label=f"{cell} · {task}" + (" (≥ d_max)" if capped else ""),
                    )
        ax.set(xlabel="memory horizon (steps; ▶ = ≥ d_max)", ylabel=label)
        legend_outside(ax)
    what = label.split(" (")[0]
    return Figure("reach", f"Memory horizon against {what}", CAPTION.format(what=what), fig)
