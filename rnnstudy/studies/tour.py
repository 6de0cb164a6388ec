"""The tour's claim (DESIGN §7), checked on the runs: per core task, each cell's median memory
horizon over seeds (``final/learned_d_max`` where the distance schedule grew, else
``final/memory_horizon``; "≥ d_max" when capped) and median half-life
(``propagation/l0/half_life`` when recorded, else the gradient half-life
``gradtime/l0/half_life``), then per task: did the claim hold? The experiment prints and logs
these tables; the report draws the claim table on its first screen and the per-run horizons
(``run_rows``) in its horizon figures.

The claim: the vanilla RNN's median horizon is above 0 and below ``d_max`` (it learns short
dependencies and fails long ones), and the best gated cell's is at least
``max(3 × RNN's, d_max / 2)``. Also reported (not part of the verdict): whether the RNN's
half-life is shorter than every gated cell's (a negative half-life means the signal grows: it
counts as longer than any positive one).

Worked example: on delayed_recall with ``d_max = 60``, RNN horizons 15 and 23 (median 19),
LSTM 60 and 60 (capped), GRU 60 and 35 (median 47.5): the best gated median is 60 (≥ 60),
and ``60 >= max(3 × 19, 30) = 57``, so the claim holds::

    >>> claim(19.0, {"lstm": 60.0, "gru": 47.5}, 60)
    (True, 'held: rnn 19 in (0, 60); lstm ≥ 60 >= max(3 x rnn, d_max/2) = 57')
"""

from __future__ import annotations

import math
from typing import Any

from rnnstudy.horizon import claim, horizon_text, median_half_life, run_horizon
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, headline, median

GATED = ("lstm", "gru")
CELLS = ("rnn", *GATED)
HALF_LIFE_KEYS = ("propagation/l0/half_life", "gradtime/l0/half_life")


def half_life(r: RunRecord) -> tuple[float, str]:
    """The run's half-life and which instrument gave it (NaN, "" when neither was logged)."""
    for key in HALF_LIFE_KEYS:
        v = r.metric(key)
        if not math.isnan(v):
            return v, key.split("/", 1)[0]
    return math.nan, ""


def reach(h: float) -> float:
    """A half-life as a reach for comparison: a negative one (the norm grows) is unbounded."""
    return h if math.isnan(h) or h > 0 else math.inf


def run_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Per run of a task with distances: ``run_id, task, cell, seed, d_max, horizon, capped,
    half_life, half_life_from`` (horizon NaN when the run recorded none)."""
    rows = []
    for r in records:
        task = r.config.task
        if not task.has_distances or r.run is None:
            continue
        d_max = int(task.d_max)
        h = run_horizon(r.metrics, d_max)
        hl, source = half_life(r)
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
                "half_life": hl,
                "half_life_from": source,
            }
        )
    return rows


def median_horizon(rows: list[dict[str, Any]], d_max: int) -> tuple[float, str]:
    """The median horizon of ``rows`` (``run_rows``) and its text: "≥ d_max" when every run at
    the median is capped, "n/a" when none has a horizon."""
    med = median(r["horizon"] for r in rows)
    at = [r for r in rows if r["horizon"] == med]
    return med, horizon_text(med, d_max, bool(at) and all(r["capped"] for r in at))


def tour(records: list[RunRecord], spec: Any = None) -> list[StudyTable]:
    """Per task x cell (``summary.csv``) and the claim per task (``summary_claim.csv``, the
    report's lead table)."""
    by_task: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in run_rows(records):
        by_task.setdefault(row["task"], {}).setdefault(row["cell"], []).append(row)
    long, claims, heads = [], [], {}
    for task, cells in by_task.items():
        d_max = max(r["d_max"] for rs in cells.values() for r in rs)
        wide: dict[str, Any] = {"task": task, "d_max": d_max}
        med: dict[str, float] = {}
        hl: dict[str, float] = {}
        for cell in sorted(cells, key=lambda c: (CELLS + (c,)).index(c)):
            rs = cells[cell]
            med[cell], text = median_horizon(rs, d_max)
            hl[cell] = median_half_life(r["half_life"] for r in rs)
            sources = ",".join(sorted({r["half_life_from"] for r in rs} - {""})) or "n/a"
            values = [r["horizon"] for r in rs if not math.isnan(r["horizon"])]
            long.append(
                {
                    "task": task,
                    "cell": cell,
                    "seeds": len(rs),
                    "horizons": " ".join(horizon_text(v, d_max) for v in values) or "n/a",
                    "median_horizon": text,
                    "d_max": d_max,
                    "median_half_life": hl[cell],
                    "half_life_from": sources,
                }
            )
            wide[f"{cell} horizon"] = text
            wide[f"{cell} half-life"] = hl[cell]
            wide.setdefault("seeds", []).append(str(len(values)))
            heads.update(
                headline(f"{task} {cell}", {"horizon_median": med[cell], "half_life": hl[cell]})
            )
        held, why = claim(med.get("rnn", math.nan), {c: med[c] for c in GATED if c in med}, d_max)
        wide["seeds"] = "/".join(wide["seeds"])
        wide["claim"] = why
        wide["rnn_half_life_shortest"] = _shortest(hl)
        claims.append(wide)
        heads.update(headline(task, {"claim_held": float(held)}))
    title = "The tour: median memory horizon and half-life per task x cell"
    order = ["task", "d_max", "seeds", *[f"{c} horizon" for c in CELLS]]
    order += [f"{c} half-life" for c in CELLS] + ["claim", "rnn_half_life_shortest"]
    present = [c for c in order if any(c in w for w in claims)]
    return [
        StudyTable("summary", title, long, headline=heads),
        StudyTable("claim", "The claim: memory horizon and half-life per task", claims, present),
    ]


def _shortest(hl: dict[str, float]) -> str:
    """Whether the RNN's half-life is shorter than every gated cell's ("n/a" if unknown)."""
    rnn = reach(hl.get("rnn", math.nan))
    gated = [reach(hl[c]) for c in GATED if c in hl and not math.isnan(hl[c])]
    if math.isnan(rnn) or not gated:
        return "n/a"
    return "yes" if all(rnn < v for v in gated) else "no"
