"""Outcomes per configuration (seeds pooled): the default summary and the clipping ablation.

Per configuration: success rate, divergence rate, median steps to solve (over the solved
runs), mean final metric; ``clip_ablation`` adds the clip rate (fraction of training steps
clipped, mean over seeds) and the largest pre-clip gradient norm seen in training (median over
seeds): the explosion that clipping tames.
"""

from __future__ import annotations

import math
from typing import Any

from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, group, headline, mean, median, rate


def _max_grad(r: RunRecord) -> float:
    vals = [v for _, v in r.history("grad/norm_preclip") if not math.isnan(v)]
    return max(vals) if vals else math.nan


def outcome_rows(records: list[RunRecord], clip_stats: bool = False) -> StudyTable:
    rows, heads = [], {}
    for label, rs in group(records):
        task = rs[0].config.task
        stats: dict[str, Any] = {
            "success_rate": rate(rs, "solved"),
            "diverged_rate": rate(rs, "diverged"),
            "median_steps_to_solve": median(r.steps_to_solve for r in rs if r.outcome == "solved"),
            "mean_final": mean(r.final for r in rs),
        }
        if clip_stats:
            stats["clip_rate"] = mean(r.metric("grad/clip_rate") for r in rs)
            stats["max_grad_norm"] = median(_max_grad(r) for r in rs)
        rows.append(
            {
                "config": label,
                "runs": len(rs),
                **stats,
                "metric": task.metric,
                "chance": task.chance_metric,
            }
        )
        heads.update(headline(label, stats))
    title = "Outcomes per configuration (seeds pooled)"
    return StudyTable("summary", title, rows, headline=heads)


def default_study(records, spec) -> list[StudyTable]:
    return [outcome_rows(records)]


def clip_ablation(records, spec) -> list[StudyTable]:
    t = outcome_rows(records, clip_stats=True)
    t.title = "Clipping ablation: outcomes per cell x clip (seeds pooled)"
    return [t]
