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
from rnnstudy.reporting.figures.base import Figure, new_figure, palette, style
from rnnstudy.reporting.figures.horizon import MAX_SERIES, series_order

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
    runs = data.runs[["run_id", "task", "series", "cell"]]
    prof = prof.merge(runs, on="run_id")
    tasks = sorted(set(prof["task"]))
    levels = series_order(runs[runs["run_id"].isin(prof["run_id"])], data)
    if len(levels) > MAX_SERIES:
        levels = data.cells(runs["cell"])
        prof["series"] = prof["cell"]
    pal = palette(levels)
    with style():
        fig, axes = new_figure(1, len(tasks), width=min(15.0, 1.0 + 4.6 * len(tasks)), sharey=True)
        for i, task in enumerate(tasks):
            ax = axes[0, i]
            sub = prof[prof["task"] == task]
            for lv in levels:
                g = sub[sub["series"] == lv].groupby("lag")["log_rho"]
                if g.ngroups == 0:
                    continue
                s = g.agg(["median", "min", "max"]).reset_index()
                ax.fill_between(s["lag"], s["min"], s["max"], color=pal[lv], alpha=0.18, lw=0)
                ax.plot(s["lag"], s["median"], color=pal[lv], lw=1.6, label=lv)
            ax.set(title=task, xlabel="lag k (steps)", ylabel="log10 ρ(k)" if i == 0 else "")
            ax.legend(fontsize="x-small", loc="lower left", frameon=True)
    return Figure("propagation", "Propagation profiles", CAPTION, fig)
