"""A study's output: tables (printed, CSV, Markdown) and headline metrics for the parent run."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rnnstudy.labels import metric_label
from rnnstudy.studies.records import RunRecord
from rnnstudy.text import fmt, format_table


@dataclass
class StudyTable:
    name: str  # file stem: summary.csv for the first table, summary_<name>.csv for the others
    title: str
    rows: list[dict[str, Any]]
    columns: list[str] | None = None
    headline: dict[str, float] = field(default_factory=dict)  # parent metrics

    @property
    def cols(self) -> list[str]:
        return self.columns or (list(self.rows[0]) if self.rows else [])

    def text(self) -> str:
        return f"{self.title}\n{format_table(self.rows, self.cols)}"

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(self.rows)
        return buf.getvalue()

    def markdown(self) -> str:
        cols = self.cols
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in self.rows]
        return f"**{self.title}**\n\n" + "\n".join(lines) + "\n"


# ---------------------------------------------------------------- grouping and statistics


def group(records: list[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    """[(configuration label, [records])] in record order: the seeds of a configuration pooled."""
    out: dict[str, list[RunRecord]] = {}
    for r in records:
        out.setdefault(r.config_label, []).append(r)
    return list(out.items())


def finite(xs: Iterable[float]) -> list[float]:
    return [x for x in xs if x is not None and not math.isnan(x)]


def mean(xs: Iterable[float]) -> float:
    v = finite(xs)
    return statistics.fmean(v) if v else math.nan


def median(xs: Iterable[float]) -> float:
    v = finite(xs)
    return float(statistics.median(v)) if v else math.nan


def rate(records: list[RunRecord], outcome: str) -> float:
    ran = [r for r in records if r.outcome not in ("missing",)]
    return sum(r.outcome == outcome for r in ran) / len(ran) if ran else math.nan


def headline(label: str, stats: dict[str, float]) -> dict[str, float]:
    """``{"summary/<label>/<stat>": value}`` for the finite stats."""
    key = metric_label(label)
    return {
        f"summary/{key}/{k}": float(v)
        for k, v in stats.items()
        if isinstance(v, int | float) and not math.isnan(float(v))
    }


Study = Callable[[list[RunRecord], Any], list[StudyTable]]  # (records, SummarySpec)
