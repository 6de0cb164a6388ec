"""Outcomes per configuration (seeds pooled): the default summary and the clipping ablation.

Per configuration: success rate, divergence rate, median steps to solve (over the solved
runs), mean final metric; ``clip_ablation`` adds the clip rate (fraction of training steps
clipped, mean over seeds) and the largest pre-clip gradient norm seen in training (median over
seeds): the explosion that clipping tames, and its claim by the standard of ``rnnstudy.claims``
(DESIGN §7): per cell and clip setting, "clipping lowers the divergence rate": the rate without
clipping minus the rate with this setting, with a bootstrap interval over seeds and ``k/n``.
"""

from __future__ import annotations

import math
from typing import Any

from rnnstudy import claims
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


def clip_claims(records: list[RunRecord]) -> StudyTable:
    """Per cell and clip setting: does clipping lower the divergence rate (vs no clipping)?"""
    runs: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        if r.run is not None:
            runs.setdefault((r.config.model.cell, r.config.clip.label()), []).append(r)
    rows, heads = [], {}
    for (cell, clip), rs in runs.items():
        none = runs.get((cell, "none"))
        if clip == "none" or not none:
            continue
        c = claims.rate_gap(
            [r.outcome == "diverged" for r in none], [r.outcome == "diverged" for r in rs]
        )
        rows.append(
            {
                "cell": cell,
                "clip": clip,
                "diverged none vs clipped": c.rank,
                "claim": c.text("divergence rate drop"),
            }
        )
        held = {"claim_held": float(c.verdict == claims.HELD)}
        heads.update(headline(rs[0].config_label, held))  # the grid's own label, as elsewhere
    title = "The claim: clipping lowers the divergence rate (none minus clipped, 95% interval)"
    return StudyTable("claim", title, rows, headline=heads)


def clip_ablation(records, spec) -> list[StudyTable]:
    t = outcome_rows(records, clip_stats=True)
    t.title = "Clipping ablation: outcomes per cell x clip (seeds pooled)"
    c = clip_claims(records)
    t.headline.update(c.headline)
    return [t, c]
