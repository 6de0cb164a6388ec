"""Pascanu et al. 2013 card: success per run and per arm, read from what the runs logged.

Their success criterion (paper; DESIGN §8): under 1% misclassified on 10,000 freshly generated
sequences, a first hit counting. The experiment file checks every 500 steps on 10,000 validation
sequences (``train.val_every: 500``, ``train.val_size: 10000``) and stops a run at its first
check with ``val/acc >= 0.99`` (``stop_when_solved``), so a logged hit *is* a hit on 10,000
sequences: no second evaluation is needed, and none could be made (runs log no weights). The
validation set is drawn once per run from a seed the training stream never uses, rather than
afresh at every check as in their code (RNN.py:352-360).

Reads the newest experiment of a profile through ``rnnstudy.tracking`` and prints, per run, the
outcome, the step of the first hit, the best and last ``val/acc``, the clip rate, the largest
logged pre-clip gradient norm and the final spectral radius of ``W_hh``; then per clipping arm
the successes k/n (runs still going are counted apart).

    MLFLOW_TRACKING_URI=... python -m rnnstudy.repro.pascanu [--profile cpu]
"""

from __future__ import annotations

import argparse
import math

from rnnstudy.repro import runs

HIT = 0.99  # val/acc >= 0.99 <=> under 1% misclassified


def rows(name: str = "pascanu2013", profile: str = "cpu") -> tuple[str, list[dict]]:
    c, parent_id, kids = runs.newest_children(name, profile)
    out = []
    for k in kids:
        p, m = k.data.params, k.data.metrics
        acc = runs.history(c, k.info.run_id, "val/acc")
        pre = runs.history(c, k.info.run_id, "grad/norm_preclip")
        hit = next((s for s, v in acc if v >= HIT), None)
        out.append(
            {
                "L": int(p["task.L"]),
                "clip": k.data.tags.get("clip", p.get("clip.mode")),
                "seed": int(p["seed"]),
                "status": k.info.status,
                "outcome": k.data.tags.get("outcome", "running"),
                "last_step": acc[-1][0] if acc else 0,
                "first_hit": hit,
                "best_acc": max((v for _, v in acc), default=math.nan),
                "last_acc": acc[-1][1] if acc else math.nan,
                "clip_rate": m.get("grad/clip_rate", math.nan),
                "max_preclip": max((v for _, v in pre), default=math.nan),
                "radius": m.get("spectral/weight_hh_l0/radius", math.nan),
            }
        )
    out.sort(key=lambda r: (r["L"], r["clip"], r["seed"]))
    return parent_id, out


def table(rs: list[dict]) -> list[str]:
    lines = [
        f"{'L':>4s} {'clip':7s} {'seed':>4s} {'status':9s} {'outcome':9s} {'checked to':>10s} "
        f"{'first hit':>9s} {'best acc':>8s} {'last acc':>8s} {'clip rate':>9s} "
        f"{'max |g|':>8s} {'radius':>6s}"
    ]
    for r in rs:
        hit = "-" if r["first_hit"] is None else str(r["first_hit"])
        lines.append(
            f"{r['L']:4d} {r['clip']:7s} {r['seed']:4d} {r['status']:9s} "
            f"{r['outcome']:9s} {r['last_step']:10d} {hit:>9s} {r['best_acc']:8.4f} "
            f"{r['last_acc']:8.4f} {r['clip_rate']:9.4f} {r['max_preclip']:8.3g} "
            f"{r['radius']:6.2f}"
        )
    lines.append("")
    for key in sorted({(r["L"], r["clip"]) for r in rs}):
        arm = [r for r in rs if (r["L"], r["clip"]) == key]
        done = [r for r in arm if r["status"] != "RUNNING"]
        k = sum(r["first_hit"] is not None for r in done)
        steps = sorted(r["first_hit"] for r in done if r["first_hit"] is not None)
        lines.append(
            f"L={key[0]} clip {key[1]}: {k}/{len(done)} finished runs solved "
            f"(first hits at {steps}); {len(arm) - len(done)} still running"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", default="pascanu2013")
    ap.add_argument("--profile", default="cpu")
    a = ap.parse_args(argv)
    parent, rs = rows(a.experiment, a.profile)
    runs.read_out(f"parent run {parent} [{a.profile}]", rs, table)


if __name__ == "__main__":
    main()
