"""The tour's claim (DESIGN §7), checked on the runs and printed: per core task, each cell's
median memory horizon over seeds (``final/learned_d_max`` where the distance schedule grew,
else ``final/memory_horizon``; "≥ d_max" when capped) and median half-life
(``propagation/l0/half_life`` when recorded, else the gradient half-life
``gradtime/l0/half_life``), then one line per task: did the claim hold?

The claim: the vanilla RNN's median horizon is above 0 and below ``d_max`` (it learns short
dependencies and fails long ones), and the best gated cell's is at least
``max(3 × RNN's, d_max / 2)``. Also reported (not part of the verdict when no propagation
profile was recorded): whether the RNN's half-life is shorter than every gated cell's (a
negative half-life means the signal grows: it counts as longer than any positive one).

Worked example: on delayed_recall with ``d_max = 60``, RNN horizons 15 and 23 (median 19),
LSTM 60 and 60 (capped), GRU 60 and 35 (median 47.5): the best gated median is 60 (≥ 60),
and ``60 >= max(3 × 19, 30) = 57``, so the claim holds.
"""

from __future__ import annotations

import math
from typing import Any

from rnnstudy.horizon import claim, horizon_text, median_half_life, run_horizon
from rnnstudy.studies.records import PointRecord
from rnnstudy.studies.table import StudyTable, headline, median

GATED = ("lstm", "gru")
HALF_LIFE_KEYS = ("propagation/l0/half_life", "gradtime/l0/half_life")


def half_life(r: PointRecord) -> tuple[float, str]:
    """The run's half-life and which instrument gave it (NaN, "" when neither was logged)."""
    for key in HALF_LIFE_KEYS:
        v = r.metric(key)
        if not math.isnan(v):
            return v, key.split("/", 1)[0]
    return math.nan, ""


def reach(h: float) -> float:
    """A half-life as a reach for comparison: a negative one (the norm grows) is unbounded."""
    return h if math.isnan(h) or h > 0 else math.inf


def tour(records: list[PointRecord], grid: dict[str, list[Any]], spec: dict[str, Any]):
    tasks: dict[str, dict[str, list[PointRecord]]] = {}
    for r in records:
        tasks.setdefault(r.config.task.name, {}).setdefault(r.config.model.cell, []).append(r)
    rows, claims, heads = [], [], {}
    for task, cells in tasks.items():
        d_max = int(next(iter(cells.values()))[0].config.task.d_max)
        med: dict[str, float] = {}
        hl: dict[str, float] = {}
        for cell, rs in cells.items():
            hs = [run_horizon(r.metrics, d_max) for r in rs if r.run is not None]
            values = [float(h.value) for h in hs if h is not None]
            lives = [half_life(r) for r in rs]
            med[cell] = median(values)
            hl[cell] = median_half_life(v for v, _ in lives)
            sources = sorted({s for _, s in lives if s})
            rows.append(
                {
                    "task": task,
                    "cell": cell,
                    "seeds": len(rs),
                    "horizons": " ".join(horizon_text(v, d_max) for v in values) or "n/a",
                    "median_horizon": horizon_text(med[cell], d_max),
                    "d_max": d_max,
                    "median_half_life": hl[cell],
                    "half_life_from": ",".join(sources) or "n/a",
                }
            )
            heads.update(
                headline(f"{task} {cell}", {"horizon_median": med[cell], "half_life": hl[cell]})
            )
        held, why = claim(med.get("rnn", math.nan), {c: med[c] for c in GATED if c in med}, d_max)
        rnn_hl = reach(hl.get("rnn", math.nan))
        gated_hl = [reach(hl[c]) for c in GATED if c in hl and not math.isnan(hl[c])]
        shorter = (
            "n/a"
            if math.isnan(rnn_hl) or not gated_hl
            else ("yes" if all(rnn_hl < v for v in gated_hl) else "no")
        )
        claims.append({"task": task, "claim": why, "rnn_half_life_shortest": shorter})
        heads.update(headline(task, {"claim_held": float(held)}))
    return [
        StudyTable(
            "summary",
            "The tour: median memory horizon and half-life per task x cell",
            rows,
            headline=heads,
        ),
        StudyTable("claim", "The tour's claim (DESIGN §7), per task", claims),
    ]
