"""Initialisation study: per init x recurrent gain (x cell), the gradient at initialisation
(half-life and log10(first/last) at the first probe, step 0), divergence and success rates."""

from __future__ import annotations

from rnnstudy.studies.table import StudyTable, group, headline, mean, rate


def init_gain(records, spec) -> list[StudyTable]:
    rows, heads = [], {}
    for label, rs in group(records):
        stats = {
            "half_life_init": mean(r.first("gradtime/l0/half_life") for r in rs),
            "log10_ratio_init": mean(r.first("gradtime/l0/log10_ratio") for r in rs),
            "radius_init": mean(r.first("spectral/weight_hh_l0/radius") for r in rs),
            "half_life_end": mean(r.metric("gradtime/l0/half_life") for r in rs),
            "diverged_rate": rate(rs, "diverged"),
            "success_rate": rate(rs, "solved"),
            "mean_final": mean(r.final for r in rs),
        }
        rows.append({"config": label, "runs": len(rs), **stats})
        heads.update(headline(label, stats))
    title = "Init x recurrent gain: gradient at init (step 0), divergence, success (seeds pooled)"
    return [StudyTable("summary", title, rows, headline=heads)]
