"""Propagation profiles: log10 ρ(k) against lag k, one line per configuration, seeds as bands
(DESIGN §4: how far a signal travels back through the recurrence, independent of the loss).

Data: each child run's artifact ``propagation/<layer>.npz`` (arrays ``rho``: probe × lag,
``steps``, ``lags``); the profile at the last probe (end of training) is drawn. Runs without
the artifact are left out; with none at all there is no figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudy import tracking
from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.bands import band, by_task, task_figure
from rnnstudy.reporting.figures.base import Figure, style

LAYER = "l0"
CAPTION = (
    "Propagation profile ρ(k) = E‖uᵀ ∂h_{t+k}/∂h_t‖ of layer l0 at the end of training (log "
    "scale) against lag k, one panel per task: line = median over seeds, band = min–max, "
    "colour = configuration. A steeper fall means a signal (and the gradient) dies out over "
    "fewer steps: the slope gives the propagation half-life."
)


def profiles(data: ReportData, layer: str = LAYER) -> pd.DataFrame:
    """Tidy ``run_id, lag, log_rho`` from the last probe of every run that has the artifact."""
    rows = []
    for rid in data.runs["run_id"]:
        z = tracking.read_npz(data.store.client, rid, f"propagation/{layer}.npz")
        if z is None or "rho" not in z:
            continue
        rho = np.asarray(z["rho"], dtype=float)
        if rho.ndim == 1:
            rho = rho[None, :]
        if rho.ndim != 2 or rho.size == 0:
            continue
        lags = np.asarray(z.get("lags", np.arange(1, rho.shape[1] + 1)), dtype=float)
        last = rho[-1]
        ok = np.isfinite(last) & (last > 0)
        rows.append(pd.DataFrame({"run_id": rid, "lag": lags[ok], "log_rho": np.log10(last[ok])}))
    if not rows:
        return pd.DataFrame(columns=["run_id", "lag", "log_rho"])
    return pd.concat(rows, ignore_index=True)


def build(data: ReportData) -> Figure | None:
    prof = profiles(data)
    if prof.empty:
        return None
    prof, levels, pal = by_task(data, prof)
    tasks = sorted(set(prof["task"]))
    with style():
        fig, axes = task_figure(tasks)
        for i, task in enumerate(tasks):
            ax = axes[i]
            sub = prof[prof["task"] == task]
            for lv in levels:
                band(ax, sub[sub["series"] == lv], "lag", "log_rho", pal[lv], label=lv)
            ax.set(title=task, xlabel="lag k (steps)", ylabel="log10 ρ(k)" if i == 0 else "")
            ax.legend(fontsize="x-small", loc="lower left", frameon=True)
    return Figure("propagation", "Propagation profiles", CAPTION, fig)
