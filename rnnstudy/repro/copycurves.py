"""Card (b), Arjovsky et al. 2016 copy memory: our LSTM curves against training examples,
beside theirs.

Reads the newest ``arjovsky2016_copy`` experiment of a profile through ``rnnstudy.tracking``:
per run the logged ``val/loss`` history (the harness's validation cross entropy, the analogue of
their test loss), plotted against training examples = step x batch size, with the memoryless
baseline ``10 ln 8 / (T + 20)`` and their LSTM curve as read from the paper's figure
(``rnnstudy.repro.published.ARJOVSKY_COPY_LSTM``). Prints, per run, the loss at fixed numbers of
examples (median of the checks in a +-25k-example window, so one noisy check does not decide),
the first number of examples from which the windowed loss stays below the baseline by more than
``margin``, and the minimum.

    MLFLOW_TRACKING_URI=... python -m rnnstudy.repro.copycurves [--profile cpu] [--figure PNG]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from rnnstudy.repro import runs
from rnnstudy.repro.published import ARJOVSKY_COPY_LSTM

MARKS = (100_000, 200_000, 300_000, 400_000, 600_000, 800_000, 1_000_000)


def baseline(T: int, K: int = 10, A: int = 8) -> float:
    """Their memoryless cross entropy, K ln A / (T + 2K) (paper §4.1)."""
    return K * math.log(A) / (T + 2 * K)


@dataclass
class Curve:
    cell: str
    T: int
    seed: str
    batch: int
    examples: np.ndarray
    loss: np.ndarray
    status: str

    def at(self, n: int, half: int = 25_000) -> float:
        sel = (self.examples >= n - half) & (self.examples <= n + half)
        return float(np.median(self.loss[sel])) if sel.any() else math.nan

    def below_from(self, margin: float = 0.002) -> int | None:
        """First examples count from which every windowed value stays below baseline - margin."""
        b = baseline(self.T) - margin
        w = np.array([self.at(int(n)) for n in self.examples])
        ok = w < b
        if not ok.any() or not ok[-1]:
            return None
        i = len(ok) - 1
        while i > 0 and ok[i - 1]:
            i -= 1
        return int(self.examples[i])


def load(name: str = "arjovsky2016_copy", profile: str = "cpu") -> tuple[str, list[Curve]]:
    c, parent_id, kids = runs.newest_children(name, profile)
    curves = []
    for k in kids:
        p = k.data.params
        hist = runs.history(c, k.info.run_id, "val/loss")
        if not hist:
            continue
        batch = int(p.get("train.batch_size", 20))
        steps = np.array([s for s, _ in hist], dtype=float)
        curves.append(
            Curve(
                p.get("model.cell", "?"),
                int(p["task.T"]),
                p.get("seed", "?"),
                batch,
                steps * batch,
                np.array([v for _, v in hist]),
                k.info.status,
            )
        )
    curves.sort(key=lambda x: (x.cell, x.T, x.seed))
    return parent_id, curves


def table(curves: list[Curve]) -> list[str]:
    head = " ".join(f"{m // 1000:>6d}k" for m in MARKS)
    lines = [
        f"{'run':18s} {'status':9s} {'examples':>9s} {'baseline':>8s} {head}  "
        f"{'below from':>10s} {'min':>7s}"
    ]
    for T in sorted({c.T for c in curves}):
        pub = ARJOVSKY_COPY_LSTM.get(T, {})
        if pub:
            vals = " ".join(f"{_nearest(pub, m):7.4f}" for m in MARKS)
            lines.append(
                f"{'theirs LSTM T=' + str(T):18s} {'(figure)':9s} {1_000_000:9d} "
                f"{baseline(T):8.4f} {vals}"
            )
        for cv in (x for x in curves if x.T == T):
            vals = " ".join(f"{cv.at(m):7.4f}" for m in MARKS)
            bf = cv.below_from()
            lines.append(
                f"{cv.cell + ' T=' + str(T) + ' s' + cv.seed:18s} {cv.status:9s} "
                f"{int(cv.examples[-1]):9d} {baseline(T):8.4f} {vals}  "
                f"{'-' if bf is None else f'{bf // 1000}k':>10s} {cv.loss.min():7.4f}"
            )
    return lines


def _nearest(pts: dict[int, float], n: int) -> float:
    k = min(pts, key=lambda x: abs(x - n))
    return pts[k] if abs(k - n) <= 60_000 else math.nan


def figure(curves: list[Curve], path: str) -> None:
    plt = runs.pyplot()
    Ts = sorted({c.T for c in curves})
    fig, axes = plt.subplots(1, len(Ts), figsize=(5.6 * len(Ts), 4.2), squeeze=False)
    for ax, T in zip(axes[0], Ts, strict=True):
        b = baseline(T)
        for cv in (x for x in curves if x.T == T):
            ax.plot(
                cv.examples / 1000,
                cv.loss,
                lw=0.9,
                alpha=0.8,
                label=f"ours {cv.cell.upper()} seed {cv.seed} (val/loss)",
            )
        pub = ARJOVSKY_COPY_LSTM.get(T)
        if pub:
            n = sorted(pub)
            ax.plot(
                [k / 1000 for k in n],
                [pub[k] for k in n],
                "o--",
                color="tab:green",
                mfc="white",
                label="theirs LSTM (read from the figure)",
            )
        ax.axhline(b, color="k", ls=":", lw=1, label=f"baseline 10 ln 8/{T + 20}")
        ax.set_ylim(b - 0.045 if T == 100 else b - 0.015, b + 0.02)
        ax.set_xlim(0, 1000)
        ax.set_title(f"copy T={T}: LSTM 40, RMSProp 1e-3 (0.9), clip 1, batch 20", fontsize=9)
        ax.set_xlabel("training examples (thousands)")
        ax.set_ylabel("cross entropy")
        ax.legend(fontsize=7)
    runs.save(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", default="arjovsky2016_copy")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--figure")
    a = ap.parse_args(argv)
    parent, curves = load(a.experiment, a.profile)
    runs.read_out(f"parent run {parent} [{a.profile}]", curves, table, figure, a.figure)


if __name__ == "__main__":
    main()
