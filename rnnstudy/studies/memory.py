"""Memory horizon study (qa_distance): accuracy by distance and the memory horizon per cell and
seed (the largest distance bucket with accuracy >= 0.9, DESIGN §2), then per cell over seeds."""

from __future__ import annotations

import math
from typing import Any

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
    return [
        StudyTable(
            "summary", "Memory horizon per configuration (mean over seeds)", per_cfg, headline=heads
        ),
        StudyTable("per_seed", "Memory horizon and accuracy by distance per seed", per_seed),
    ]
