"""Truncated BPTT study: per task x window k, what is learned (success, accuracy, memory
horizon) and how far back the gradient reaches (``reach``), with the gradient half-life and
log10(first/last) of the last probe (means over seeds)."""

from __future__ import annotations

from rnnstudy.studies.gradprofile import last_row_reach
from rnnstudy.studies.table import StudyTable, group, headline, mean, rate


def tbptt(records, spec) -> list[StudyTable]:
    rows, heads = [], {}
    for label, rs in group(records):
        stats = {
            "success_rate": rate(rs, "solved"),
            "acc_mean": mean(r.final for r in rs),
            "memory_horizon": mean(r.metric("final/memory_horizon") for r in rs),
            "grad_reach": mean(last_row_reach(r.gradtime("l0")) for r in rs),
            "half_life": mean(r.metric("gradtime/l0/half_life") for r in rs),
            "log10_ratio": mean(r.metric("gradtime/l0/log10_ratio") for r in rs),
        }
        k = rs[0].config.train.tbptt
        rows.append({"config": label, "k": "full" if k is None else k, "runs": len(rs), **stats})
        heads.update(headline(label, stats))
    title = "TBPTT window k: learning and gradient reach (last probe; means over seeds)"
    return [StudyTable("summary", title, rows, headline=heads)]
