"""Clip ablation (DESIGN §7): success and divergence rate against the threshold τ.

Columns: clip mode ``norm`` and ``value``; rows: success rate and divergence rate; τ on a log
axis; one line per cell (per cell and other varying setting, when there are any), whiskers =
95% Wilson interval over seeds. Each line's unclipped rate (clip ``none``) is a dashed
horizontal reference in its colour. On the ``norm`` panels, Pascanu's heuristic band
(0.5–10× the mean unclipped pre-clip gradient norm: all finite ``grad/norm_preclip`` values of
that cell's unclipped runs, pooled) is shaded per cell; a cell without finite norms gets none.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter

from rnnstudy.reporting.data import CELL_ORDER, ReportData
from rnnstudy.reporting.figures.base import Figure, new_figure, palette, style

CAPTION = (
    "Fraction of seeds that solved the task (top) and that diverged (bottom) against the clip "
    "threshold τ (log axis), clip-by-norm left, clip-by-value right, one line per cell; dashed "
    "line = the same cell unclipped; shaded = Pascanu's band, 0.5–10× the cell's mean unclipped "
    "pre-clip gradient norm; whiskers = 95% Wilson interval over seeds (n beside each point)."
)
MODES = ("norm", "value")
WHAT = (("solved", "success rate"), ("diverged", "divergence rate"))
BAND = (0.5, 10.0)
EXCLUDED = ("running", "pruned", "interrupted")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sensible at k=0 and k=n)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def _mode(runs: pd.DataFrame) -> pd.Series:
    col = "params.clip.mode"
    mode = runs[col] if col in runs else pd.Series(None, index=runs.index, dtype=object)
    return mode.fillna(runs["clip"].astype(str).str.partition(":")[0])


def _tau(runs: pd.DataFrame) -> pd.Series:
    col = "params.clip.value"
    raw = runs[col] if col in runs else pd.Series(None, index=runs.index, dtype=object)
    tau = pd.to_numeric(raw, errors="coerce")
    from_label = pd.to_numeric(runs["clip"].astype(str).str.partition(":")[2], errors="coerce")
    return tau.fillna(from_label)


def _line(runs: pd.DataFrame) -> pd.Series:
    """Line key: the cell, plus whatever else varies in the configuration (clip left out)."""

    def key(row: pd.Series) -> str:
        parts = [p for p in str(row["config"]).split(" · ") if p and not p.startswith("clip=")]
        other = [p for p in parts if p != row["cell"]]
        return " · ".join([str(row["cell"]), *other])

    return runs.apply(key, axis=1) if not runs.empty else pd.Series(dtype=object)


def prepare(data: ReportData) -> pd.DataFrame:
    """Finished runs with ``mode``, ``tau`` and ``line`` columns."""
    runs = data.runs[~data.runs["outcome"].isin(EXCLUDED)]
    return runs.assign(mode=_mode(runs), tau=_tau(runs), line=_line(runs))


def rates(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (line, mode, tau, what): n, k, rate, Wilson lo/hi. ``tau`` is NaN for
    unclipped runs (mode ``none``)."""
    rows = []
    keyed = runs.assign(tau=runs["tau"].where(runs["mode"] != "none"))
    for (line, mode, tau), g in keyed.groupby(["line", "mode", "tau"], sort=True, dropna=False):
        n = len(g)
        for what, _ in WHAT:
            k = int((g["outcome"] == what).sum())
            lo, hi = wilson(k, n)
            rows.append(dict(line=line, mode=mode, tau=tau, what=what, n=n, k=k, rate=k / n,
                             lo=lo, hi=hi))  # fmt: skip
    cols = ["line", "mode", "tau", "what", "n", "k", "rate", "lo", "hi"]
    return pd.DataFrame(rows, columns=cols)


def bands(data: ReportData, runs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per line: (0.5, 10) × the mean of every finite ``grad/norm_preclip`` value logged by
    its unclipped runs (history; the last logged value where a run has no history)."""
    out: dict[str, tuple[float, float]] = {}
    none = runs[runs["mode"] == "none"]
    h = data.history
    h = h[h["key"] == "grad/norm_preclip"] if not h.empty else h
    last = (
        none["metrics.grad/norm_preclip"]
        if "metrics.grad/norm_preclip" in none
        else pd.Series(np.nan, index=none.index)
    )
    for line, g in none.groupby("line"):
        vals = []
        for rid, lv in zip(g["run_id"], last.loc[g.index], strict=True):
            v = h.loc[h["run_id"] == rid, "value"].to_numpy(float) if not h.empty else []
            vals.append(v if len(v) else np.array([lv], dtype=float))
        allv = np.concatenate(vals) if vals else np.array([])
        allv = allv[np.isfinite(allv)]
        if allv.size:
            m = float(allv.mean())
            out[line] = (BAND[0] * m, BAND[1] * m)
    return out


def applies(runs: pd.DataFrame) -> bool:
    """A clipped setting with a threshold, another clip setting, and a config with ≥2 seeds."""
    if runs.empty or runs["clip"].nunique() < 2:
        return False
    if not (runs["mode"].isin(MODES) & runs["tau"].gt(0)).any():
        return False
    return bool((runs.groupby("config")["seed"].nunique() >= 2).any())


def _order(line: str) -> tuple:
    cell = line.split(" · ", 1)[0]
    return (CELL_ORDER.index(cell) if cell in CELL_ORDER else 9, line)


def build(data: ReportData) -> Figure | None:
    if data.is_sweep:
        return None
    runs = prepare(data)
    if not applies(runs):
        return None
    df = rates(runs)
    band = bands(data, runs)
    lines = sorted(df["line"].unique(), key=_order)
    colors = palette(lines)
    modes = [m for m in MODES if ((df["mode"] == m) & df["tau"].gt(0)).any()]
    with style():
        fig, axes = new_figure(2, len(modes), width=max(6.0, 4.4 * len(modes) + 1.6),
                               row_height=3.2)  # fmt: skip
        for c, mode in enumerate(modes):
            for r, (what, title) in enumerate(WHAT):
                ax = axes[r, c]
                for line in lines:
                    col = colors[line]
                    s = df[(df["line"] == line) & (df["mode"] == mode) & (df["what"] == what)]
                    s = s[s["tau"] > 0].sort_values("tau")
                    if not s.empty:
                        x, y = s["tau"].to_numpy(float), s["rate"].to_numpy(float)
                        ax.plot(x, y, "-o", color=col, ms=4, label=line, gid=f"rate:{line}")
                        err = np.vstack([y - s["lo"], s["hi"] - y])
                        ax.errorbar(x, y, yerr=err, fmt="none", ecolor=col, capsize=2, lw=0.8,
                                    alpha=0.7)  # fmt: skip
                        for xi, yi, n in zip(x, y, s["n"], strict=True):
                            ax.annotate(f"{n}", (xi, yi), xytext=(3, 3), fontsize=6,
                                        textcoords="offset points", color=col)  # fmt: skip
                    u = df[(df["line"] == line) & (df["mode"] == "none") & (df["what"] == what)]
                    if not u.empty:
                        ax.axhline(float(u["rate"].iloc[0]), color=col, ls="--", lw=1,
                                   gid=f"unclipped:{line}",
                                   label=f"{line} unclipped (n={int(u['n'].iloc[0])})")  # fmt: skip
                    if mode == "norm" and line in band:
                        lo, hi = band[line]
                        ax.axvspan(lo, hi, color=col, alpha=0.12, lw=0, gid=f"band:{line}",
                                   label=f"{line} Pascanu band τ ∈ [{lo:.3g}, {hi:.3g}]")  # fmt: skip
                ax.set_xscale("log")
                taus = np.unique(df.loc[(df["mode"] == mode) & (df["tau"] > 0), "tau"])
                if len(taus) <= 8:  # the thresholds that were run, not decades
                    ax.set_xticks(taus)
                if len(taus):  # the τ that ran set the view; a band far outside is in the legend
                    ax.set_xlim(taus.min() / 3, taus.max() * 3)
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.set_ylim(-0.03, 1.05)
                ax.set(title=f"{title} · clip by {mode}", xlabel=f"threshold τ ({mode})",
                       ylabel=f"fraction of seeds {what}")  # fmt: skip
        legend: dict = {}
        for ax in axes[0]:
            for h, lb in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(lb, h)
        axes[0, -1].legend(legend.values(), legend.keys(), loc="upper left",
                           bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small")  # fmt: skip
    return Figure("clip-ablation", "Clip ablation", CAPTION, fig)
