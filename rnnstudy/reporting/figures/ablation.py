"""Clip ablation: success and divergence rate per configuration, with intervals over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.figures.base import Figure, new_figure, palette, style

CAPTION = (
    "Fraction of seeds that solved the task (left) and that diverged (right) per clipping "
    "setting, one bar per cell/task; whiskers = 95% Wilson interval over the n seeds written "
    "under each group — with few seeds, only non-overlapping whiskers are a real difference."
)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sensible at k=0 and k=n)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def rates(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (clip, other) group: n, solved, diverged and their intervals."""
    other = runs["config"].map(
        lambda c: " · ".join(p for p in c.split(" · ") if not p.startswith("clip="))
    )
    df = runs.assign(other=other.where(other != "", "all"))
    rows = []
    for (clip, oth), g in df.groupby(["clip", "other"], sort=False):
        n = len(g)
        for what in ("solved", "diverged"):
            k = int((g["outcome"] == what).sum())
            lo, hi = wilson(k, n)
            rows.append(
                {
                    "clip": clip,
                    "other": oth,
                    "what": what,
                    "n": n,
                    "rate": k / n,
                    "lo": lo,
                    "hi": hi,
                }
            )
    return pd.DataFrame(rows)


def applies(runs: pd.DataFrame) -> bool:
    """Several clip settings, and at least one configuration run with several seeds."""
    if runs.empty or runs["clip"].nunique() < 2:
        return False
    return bool((runs.groupby("config")["seed"].nunique() >= 2).any())


def clip_order(labels: list[str]) -> list[str]:
    def key(lb: str) -> tuple:
        mode, _, v = lb.partition(":")
        try:
            val = float(v)
        except ValueError:
            val = 0.0
        return ({"none": 0, "norm": 1, "value": 2}.get(mode, 3), val)

    return sorted(labels, key=key)


def build(data: ReportData) -> Figure | None:
    runs = data.runs[~data.runs["outcome"].isin(["running", "pruned", "interrupted"])]
    if data.is_sweep or not applies(runs):
        return None
    df = rates(runs)
    clips = clip_order(list(dict.fromkeys(df["clip"])))
    others = list(dict.fromkeys(df["other"]))
    colors = palette(others)
    width = 0.8 / len(others)
    with style():
        fig, axes = new_figure(1, 2, width=max(9.0, 1.1 * len(clips) * 2 + 3), row_height=3.8)
        for ax, what, title in zip(
            axes[0], ("solved", "diverged"), ("success rate", "divergence rate"), strict=True
        ):
            sub = df[df["what"] == what]
            for k, oth in enumerate(others):
                s = sub[sub["other"] == oth].set_index("clip").reindex(clips)
                x = np.arange(len(clips)) + (k - (len(others) - 1) / 2) * width
                ok = s["n"].notna().to_numpy()
                ax.bar(x[ok], s["rate"][ok], width=width * 0.92, color=colors[oth], label=oth)
                err = np.vstack([s["rate"] - s["lo"], s["hi"] - s["rate"]])[:, ok]
                ax.errorbar(
                    x[ok], s["rate"][ok], yerr=err, fmt="none", ecolor="0.2", capsize=3, lw=1
                )
            ns = df.groupby("clip")["n"].agg(
                lambda v: "/".join(str(int(i)) for i in sorted(set(v)))
            )
            ax.set_xticks(np.arange(len(clips)), [f"{c}\nn={ns.get(c, '?')}" for c in clips])
            ax.set_ylim(0, 1.05)
            ax.set(title=title, xlabel="clipping", ylabel=f"fraction of seeds {what}")
        axes[0, 1].legend(
            loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small"
        )
    return Figure("clip-ablation", "Clip ablation", CAPTION, fig)
