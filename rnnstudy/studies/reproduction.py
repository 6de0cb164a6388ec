"""Reproductions of published results: ours beside the published figure, per configuration.

The experiment file's ``summary:`` section names the figures to compare against::

    summary:
      kind: reproduction
      published:
        - match: {task.name: copy, model.cell: lstm}      # resolved-config fields (dotted)
          metric: final/loss                              # or success_rate / diverged_rate
          value: 0.0204
          source: Bai et al. 2018, Table 1 (copy memory, T=1000)

A configuration (seeds pooled) takes the first entry whose ``match`` fits its config; ``ours``
is the mean over seeds of ``metric`` (or the rate, for ``success_rate`` / ``diverged_rate``).
``baseline`` is the task's memoryless loss (``memoryless_loss``) for loss/MSE metrics, the chance
metric otherwise. Configurations without an entry show the task's own metric and no figure.
Also shown: the success rate, the mean final value of the task's own metric (``final_mean``:
accuracy or MSE), the clip rate and the number of training steps.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rnnstudy.config import flatten
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, group, headline, mean, rate

if TYPE_CHECKING:
    from rnnstudy.experiment import Published

RATES = {"success_rate": "solved", "diverged_rate": "diverged"}


def find_entry(cfg_flat: dict[str, Any], entries: list[Published]) -> Published | None:
    for e in entries:
        if all(cfg_flat.get(k) == v for k, v in e.match.items()):
            return e
    return None


def ours(rs: list[RunRecord], metric: str) -> float:
    if metric in RATES:
        return rate(rs, RATES[metric])
    return mean(r.metric(metric) for r in rs)


def baseline(task, metric: str) -> float:
    if metric in RATES:
        return math.nan
    if metric.endswith(("loss", "mse")):
        return task.memoryless_loss
    return task.chance_metric


def reproduction(records, spec) -> list[StudyTable]:
    entries = list(spec.published)
    rows, heads = [], {}
    for label, rs in group(records):
        cfg = rs[0].config
        task = cfg.task
        entry = find_entry(flatten(cfg.model_dump()), entries)
        metric = entry.metric if entry else rs[0].primary_key
        value = ours(rs, metric)
        published = entry.value if entry else None
        rows.append(
            {
                "config": label,
                "runs": len(rs),
                "metric": metric,
                "ours": value,
                "published": published,
                "baseline": baseline(task, metric),
                "success_rate": rate(rs, "solved"),
                "final_mean": mean(r.final for r in rs),
                "clip_rate": mean(r.metric("grad/clip_rate") for r in rs),
                "steps": mean(r.metric("final/steps") for r in rs),
                "source": entry.source if entry else "",
            }
        )
        stats = {"ours": value, "success_rate": rate(rs, "solved")}
        if isinstance(published, int | float):
            stats["published"] = float(published)
        heads.update(headline(label, stats))
    title = "Reproduction: ours beside the published figures (seeds pooled)"
    return [StudyTable("summary", title, rows, headline=heads)]
