"""Memory horizon study: accuracy by distance and the memory horizon per cell and seed (the
largest distance bucket with accuracy >= 0.9, DESIGN §2), then per cell over seeds, and its claim
by the standard of ``rnnstudy.claims`` (DESIGN §7): per task and hidden size, "the best gated
cell's horizon is larger than the RNN's" (difference of median horizons over seeds with a
bootstrap interval and ``k/n``; the learned horizon where the distance schedule grew)."""

from __future__ import annotations

import math
from typing import Any

from rnnstudy import claims
from rnnstudy.horizon import run_horizon
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, group, headline, mean

PREFIX = "final/acc_by_distance/"


def _edges(records: list[RunRecord]) -> list[int]:
    return sorted(
        {int(k[len(PREFIX) :]) for r in records for k in r.metrics if k.startswith(PREFIX)}
    )


def memory_horizon(records, spec) -> list[StudyTable]:
    edges = _edges(records)
    per_seed, per_cfg, heads = [], [], {}
    for label, rs in group(records):
        horizons = [r.metric("final/memory_horizon") for r in rs]
        for r, h in zip(rs, horizons, strict=True):
            row: dict[str, Any] = {"config": label, "seed": r.config.seed, "outcome": r.outcome}
            row["horizon"] = h
            row["acc"] = r.final
            for e in edges:
                row[f"acc@d<={e}"] = r.metric(f"{PREFIX}{e}")
            per_seed.append(row)
            heads.update(headline(f"{label} s{r.config.seed}", {"memory_horizon": h}))
        ok = [h for h in horizons if not math.isnan(h)]
        stats = {
            "horizon_mean": mean(horizons),
            "horizon_min": min(ok) if ok else math.nan,
            "horizon_max": max(ok) if ok else math.nan,
            "acc_mean": mean(r.final for r in rs),
        }
        for e in edges:
            stats[f"acc@d<={e}"] = mean(r.metric(f"{PREFIX}{e}") for r in rs)
        per_cfg.append({"config": label, "seeds": len(rs), **stats})
        heads.update(
            headline(
                label, {"memory_horizon_mean": stats["horizon_mean"], "acc_mean": stats["acc_mean"]}
            )
        )
    claim = horizon_claims(records)
    heads.update(claim.headline)
    return [
        StudyTable(
            "summary", "Memory horizon per configuration (mean over seeds)", per_cfg, headline=heads
        ),
        claim,
        StudyTable("per_seed", "Memory horizon and accuracy by distance per seed", per_seed),
    ]


def _horizon(r: RunRecord) -> float:
    h = run_horizon(r.metrics, int(r.config.task.d_max)) if r.config.task.has_distances else None
    return math.nan if h is None else float(h.value)


def horizon_claims(records: list[RunRecord]) -> StudyTable:
    """Per task x hidden size: is the best gated cell's horizon larger than the RNN's?"""
    by: dict[tuple[str, int], dict[str, list[float]]] = {}
    for r in records:
        if r.run is None:
            continue
        key = (r.config.task.name, r.config.model.hidden_size)
        by.setdefault(key, {}).setdefault(r.config.model.cell, []).append(_horizon(r))
    rows = []  # no headline metrics: the parent's headline labels are the grid's configurations
    for (task, hidden), cells in sorted(by.items()):
        gated = {c: v for c, v in cells.items() if c in ("lstm", "gru")}
        if "rnn" not in cells or not gated:
            continue
        best = max(gated, key=lambda c: claims.medians_of(x for x in gated[c] if not math.isnan(x)))
        c = claims.greater(gated[best], cells["rnn"])
        rows.append(
            {
                "task": task,
                "hidden": hidden,
                "best gated": best,
                "claim": c.text(f"horizon {best} − rnn"),
            }
        )
    title = "The claim: the best gated cell's horizon exceeds the RNN's (median difference, 95% interval)"
    return StudyTable("claim", title, rows)
