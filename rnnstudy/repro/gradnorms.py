"""Card (a), Arjovsky et al. 2016: ours beside their ``||dC/dh_t||`` figure.

Reads the newest finished ``arjovsky2016_gradnorms`` experiment through ``rnnstudy.tracking``
(the harness's own ``gradtime/l0.npz`` artifact of every run: ``norms`` probe step x time step,
the mean over the batch of ``||dC/dh_t||``; ``steps`` the training step of each probe), prints per
run and probe step the decay rate the figure shows (orders of magnitude per 100 time steps, from
the last step back to where the curve leaves the figure at 10^-24, and that time), beside the
figure's values (``rnnstudy.repro.published``), and draws ours over their read points.

    MLFLOW_TRACKING_URI=... python experiments/repro/gradnorms.py [experiment] [--figure PNG]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from rnnstudy import tracking
from rnnstudy.repro import runs
from rnnstudy.repro.published import ARJOVSKY_GRADS, ARJOVSKY_GRADS_EXIT

FLOOR = -24.0  # log10 of their figure's lower edge


@dataclass
class Profile:
    point: str
    cell: str
    seed: str
    step: int
    log10: np.ndarray  # log10 ||dC/dh_t||, t = 0..T-1


def rate_per_100(lg: np.ndarray, floor: float = FLOOR) -> tuple[float, int | None]:
    """Mean fall in orders of magnitude per 100 steps over the part of the curve the figure
    shows (from t = T-1 back to where it first drops below 10^floor), and that time (None when
    it never does). A rising curve gives a negative rate."""
    below = np.where(lg < floor)[0]
    t0 = int(below.max() + 1) if len(below) else 0
    last = len(lg) - 1
    if last == t0:
        return math.nan, t0
    return float((lg[last] - lg[t0]) / (last - t0) * 100.0), (t0 if len(below) else None)


def published_rate(when: str, cell: str) -> tuple[float, int | None]:
    pts = ARJOVSKY_GRADS[when][cell]
    t = sorted(pts)
    return (pts[t[-1]] - pts[t[0]]) / (t[-1] - t[0]) * 100.0, ARJOVSKY_GRADS_EXIT[when][cell]


def load(name: str = "arjovsky2016_gradnorms") -> tuple[str, list[Profile]]:
    c, exp_id, parents = runs.newest_parent(name)
    parent = parents[0]
    out = []
    for k in tracking.children(c, exp_id, parent.info.run_id):
        z = tracking.read_npz(c, k.info.run_id, "gradtime/l0.npz")
        if z is None:
            continue
        for step, row in zip(z["steps"], z["norms"], strict=True):
            out.append(
                Profile(
                    k.data.tags.get("point", k.info.run_id),
                    k.data.params.get("model.cell", "?"),
                    k.data.params.get("seed", "?"),
                    int(step),
                    np.log10(np.maximum(row, 1e-300)),
                )
            )
    out.sort(key=lambda p: (p.cell, p.step, p.seed))
    return parent.info.run_id, out


def table(profiles: list[Profile]) -> list[str]:
    lines = [
        f"{'run':28s} {'step':>5s} {'log10 t=0':>9s} {'t=T-1':>7s} "
        f"{'fall/100':>8s} {'exits 1e-24 at':>14s} | theirs: fall/100, exit"
    ]
    for p in profiles:
        r, t0 = rate_per_100(p.log10)
        when = "init" if p.step == 0 else "100"
        theirs = ""
        if p.cell in ARJOVSKY_GRADS[when] and (p.step in (0, 100)):
            pr, pt = published_rate(when, p.cell)
            theirs = f"{pr:5.2f}, {'never' if pt is None else pt}"
        lines.append(
            f"{p.point:28s} {p.step:5d} {p.log10[0]:9.1f} {p.log10[-1]:7.1f} {r:8.2f} "
            f"{'never' if t0 is None else t0:>14} | {theirs}"
        )
    return lines


def figure(profiles: list[Profile], path: str) -> None:
    plt = runs.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = {"rnn": "tab:red", "lstm": "tab:green"}
    for ax, (when, step, title) in zip(
        axes,
        [("init", 0, "beginning of training"), ("100", 100, "after 100 iterations")],
        strict=True,
    ):
        for p in profiles:
            if p.step == step:
                ax.plot(
                    np.arange(len(p.log10)),
                    p.log10,
                    color=colours.get(p.cell, "k"),
                    lw=0.9,
                    alpha=0.7,
                )
        for cell, pts in ARJOVSKY_GRADS[when].items():
            t = sorted(pts)
            ax.plot(
                t,
                [pts[k] for k in t],
                "o--",
                color=colours[cell],
                mfc="white",
                ms=5,
                lw=1,
                label=f"{cell.upper()} (theirs, read from the figure)",
            )
        for cell, c in colours.items():
            ax.plot([], [], color=c, lw=0.9, label=f"{cell.upper()} 128 (ours, one line per seed)")
        ax.axhline(FLOOR, color="grey", lw=0.6, ls=":")
        ax.set_ylim(-60, 3)
        ax.set_title(f"||dC/dh_t||, adding T=1000: {title}")
        ax.set_xlabel("time step t")
    axes[0].set_ylabel("log10 gradient norm")
    axes[0].legend(fontsize=7, loc="lower right")
    runs.save(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", default="arjovsky2016_gradnorms")
    ap.add_argument("--figure", help="write ours beside theirs to this PNG")
    a = ap.parse_args(argv)
    parent, profiles = load(a.experiment)
    runs.read_out(f"parent run {parent}", profiles, table, figure, a.figure)


if __name__ == "__main__":
    main()
