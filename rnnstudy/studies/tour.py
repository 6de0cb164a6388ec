"""The tour's claim (DESIGN §7), computed from the runs by the claim standard of
``rnnstudy.claims`` (≥ 5 seeds a point, a statistic with its interval, held / missed / not
separated).

Per task the claim is the **speed form**: "the gated cells reach long dependencies that the
vanilla RNN reaches later or not at all". The distance ``d*`` is the longest bucket edge that
the RNN and a gated cell both reach in the median seed (``final/steps_to/<d>``, the first step
at which the distance schedule's solved upper end reached ``d``); if the RNN's median seed
reaches none, ``d*`` is the first edge the gated cell reaches. The statistic is the ratio of
median steps to ``d*``, RNN over the fastest gated cell, with a bootstrap interval over seeds;
an RNN seed that never reached ``d*`` counts as not reached (``inf``). Held when the ratio is
≥ 3 and its interval excludes 1. ``d*`` moves with the budget (a censored RNN gives ``∞`` at
the first gated distance), so the shipped budgets were checked at 2× as well: the claim must
hold there too (docs/studies.md, "The tour: calibration and replication").

Beside it, per cell: the learned horizons (``final/learned_d_max``; "≥ d_max" when capped), the
propagation decay rate and λ₁ (medians over seeds with intervals, half-life as ``ln 2 / −rate``,
never a median of half-lives), and **the mechanism line**: whether the RNN's credit at the
source (``credit/l0/decay_per_step``, DESIGN §4) decays faster with distance than each gated
cell's, at initialisation (first probe) and at the end (last probe).

Worked example (speed form): on copy the RNN's median seed reaches the bucket edge 9 at step
1,100 and no further, the LSTM's at step 200; ``d* = 9`` and the ratio is 5.5 with every pair
in order: held.
"""

from __future__ import annotations

import math
from typing import Any

from rnnstudy import claims
from rnnstudy.horizon import STEPS_TO, horizon_text, run_horizon
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, headline, median

GATED = ("lstm", "gru")
CELLS = ("rnn", *GATED)
SPEED_FACTOR = 3.0
RATE_KEY = "propagation/l0/decay_per_step"
LYAP_KEY = "lyapunov/l0/l1"
CREDIT_KEY = "credit/l0/decay_per_step"


def steps_to(r: RunRecord, d: int) -> float:
    """Steps the run needed to reach distance ``d``; ``inf`` when censored (not reached)."""
    v = r.metric(f"final/{STEPS_TO}{d}")
    return math.inf if math.isnan(v) else v


def run_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Per run of a task with distances: ``run_id, task, cell, seed, d_max, horizon, capped,
    half_life, half_life_from`` (horizon NaN when the run recorded none; half-life from the
    run's last propagation rate)."""
    rows = []
    for r in records:
        task = r.config.task
        if not task.has_distances or r.run is None:
            continue
        d_max = int(task.d_max)
        h = run_horizon(r.metrics, d_max)
        rate = r.metric(RATE_KEY)
        rows.append(
            {
                "run_id": r.run_id,
                "task": task.name,
                "cell": r.config.model.cell,
                "seed": r.config.seed,
                "d_max": d_max,
                "horizon": math.nan if h is None else float(h.value),
                "capped": bool(h is not None and h.capped)
                or r.tags.get("horizon_capped") == "true",
                "half_life": math.log(2) / -rate if rate and not math.isnan(rate) else math.nan,
                "half_life_from": "propagation" if not math.isnan(rate) else "",
            }
        )
    return rows


def median_horizon(rows: list[dict[str, Any]], d_max: int) -> tuple[float, str]:
    """The median horizon of ``rows`` (``run_rows``) and its text: "≥ d_max" when every run at
    the median is capped, "n/a" when none has a horizon."""
    med = median(r["horizon"] for r in rows)
    at = [r for r in rows if r["horizon"] == med]
    return med, horizon_text(med, d_max, bool(at) and all(r["capped"] for r in at))


def _reached(rs: list[RunRecord], d: int) -> bool:
    """The cell's median seed reaches ``d`` (a strict majority of seeds did)."""
    return sum(math.isfinite(steps_to(r, d)) for r in rs) * 2 > len(rs)


def speed_claim(cells: dict[str, list[RunRecord]], edges: list[int]) -> dict[str, Any]:
    """The speed form on one task: ``d*``, the fastest gated cell there, the claim."""
    rnn = cells.get("rnn", [])
    gated = {c: cells[c] for c in GATED if c in cells}
    if not rnn or not gated:
        return {"d*": math.nan, "claim": "not separated: the RNN or the gated cells did not run"}
    both = [d for d in edges if _reached(rnn, d) and any(_reached(g, d) for g in gated.values())]
    if both:
        d_star = both[-1]
    else:
        first = [d for d in edges if any(_reached(g, d) for g in gated.values())]
        if not first:
            return {"d*": math.nan, "claim": "not separated: no gated cell reached any bucket"}
        d_star = first[0]
    speeds = {c: [steps_to(r, d_star) for r in rs] for c, rs in gated.items()}
    best = min(speeds, key=lambda c: claims.medians_of(speeds[c]))
    c = claims.ratio_gap([steps_to(r, d_star) for r in rnn], speeds[best], SPEED_FACTOR)
    return {
        "d*": d_star,
        "rnn steps": claims.medians_of([steps_to(r, d_star) for r in rnn]),
        "fastest gated": best,
        "gated steps": claims.medians_of(speeds[best]),
        "ratio": c.value,
        "interval": f"[{claims.fmt(c.lo)}, {claims.fmt(c.hi)}]",
        "pairs": c.rank,
        "verdict": c.verdict,
        "claim": c.text("steps ratio rnn/" + best) + f" at d = {d_star}",
    }


def _credit(r: RunRecord, which: str) -> float:
    """The credit slope at initialisation (``first``: the probe at step 0 only) or at the last
    probe. NaN (left out of the statistics) when the step-0 probe had no slope: a training
    range of one distance (copy's schedule starts on [4, 4]) logs none, and the first slope
    logged later (after training began) is not "at initialisation"."""
    h = r.history(CREDIT_KEY)
    if which == "first":
        return h[0][1] if h and h[0][0] == 0 else math.nan
    return h[-1][1] if h else r.metric(CREDIT_KEY)


def mechanism(cells: dict[str, list[RunRecord]]) -> dict[str, str]:
    """Per gated cell and moment (init = the probe at step 0, end = the last probe): does the
    RNN's credit decay faster?"""
    out = {}
    rnn = cells.get("rnn", [])
    for when, which in (("init", "first"), ("end", "last")):
        parts = []
        for g in GATED:
            if g not in cells or not rnn:
                continue
            a = [_credit(r, which) for r in rnn]
            b = [_credit(r, which) for r in cells[g]]
            c = claims.faster_decay(a, b)
            if c.why == "no values":
                parts.append(
                    f"{g}: n/a (no credit slope at {'step 0' if when == 'init' else 'any probe'})"
                )
                continue
            parts.append(
                f"{g}: {c.verdict} Δ{claims.fmt(c.value)}"
                f" [{claims.fmt(c.lo)}, {claims.fmt(c.hi)}] {c.rank}"
            )
        out[f"rnn credit decays faster ({when})"] = "; ".join(parts) or "n/a"
    return out


def _rate_text(rate: claims.Rate) -> str:
    if rate.n == 0:
        return "n/a"
    return f"{claims.fmt(rate.median)} [{claims.fmt(rate.lo)}, {claims.fmt(rate.hi)}]"


def cell_row(task: str, cell: str, rs: list[RunRecord], d_max: int) -> dict[str, Any]:
    rows = run_rows(rs)
    med, text = median_horizon(rows, d_max)
    rate = claims.rate_summary(r.metric(RATE_KEY) for r in rs)
    lyap = claims.rate_summary(r.metric(LYAP_KEY) for r in rs)
    cred0 = claims.rate_summary(_credit(r, "first") for r in rs)
    cred1 = claims.rate_summary(_credit(r, "last") for r in rs)
    values = [row["horizon"] for row in rows if not math.isnan(row["horizon"])]
    return {
        "task": task,
        "cell": cell,
        "seeds": len(rs),
        "horizons": " ".join(horizon_text(v, d_max) for v in values) or "n/a",
        "median_horizon": text,
        "horizon_value": med,
        "propagation rate": _rate_text(rate),
        "half-life": rate.half_life_text(),
        "lambda1": _rate_text(lyap),
        "credit slope init": _rate_text(cred0),
        "credit slope end": _rate_text(cred1),
    }


def tour(records: list[RunRecord], spec: Any = None) -> list[StudyTable]:
    """Per task x cell (``summary.csv``) and the claim per task (``summary_claim.csv``, the
    report's lead table)."""
    by_task: dict[str, dict[str, list[RunRecord]]] = {}
    for r in records:
        if r.run is None or not r.config.task.has_distances:
            continue
        by_task.setdefault(r.config.task.name, {}).setdefault(r.config.model.cell, []).append(r)
    long, lines, heads = [], [], {}
    for task, cells in by_task.items():
        cfg = next(iter(cells.values()))[0].config.task
        d_max = int(cfg.d_max)
        order = sorted(cells, key=lambda c: (CELLS + (c,)).index(c))
        rows = {c: cell_row(task, c, cells[c], d_max) for c in order}
        long.extend(rows.values())
        speed = speed_claim(cells, [hi for _, hi in cfg.buckets()])
        line: dict[str, Any] = {"task": task, "d_max": d_max}
        line["seeds"] = "/".join(str(len(cells[c])) for c in order)
        for c in order:
            line[f"{c} horizon"] = rows[c]["median_horizon"]
        line.update({k: v for k, v in speed.items() if k != "claim"})
        line["claim"] = speed["claim"]
        line.update(mechanism(cells))
        lines.append(line)
        for c in order:
            heads.update(headline(f"{task} {c}", {"horizon_median": rows[c]["horizon_value"]}))
        held = speed.get("verdict") == claims.HELD
        heads.update(
            headline(task, {"claim_held": float(held), "speed_ratio": speed.get("ratio", math.nan)})
        )
    title = "The tour: horizons, propagation, λ₁ and credit per task x cell (medians [95% interval] over seeds)"
    columns = [k for k in (long[0] if long else {}) if k != "horizon_value"]
    return [
        StudyTable("summary", title, long, columns, headline=heads),
        StudyTable("claim", "The claim per task (speed form, DESIGN §7)", lines),
    ]
