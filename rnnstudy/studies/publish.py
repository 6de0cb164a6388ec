"""Put a study's tables on the parent run: ``summary.csv`` (the study table), one CSV per other
table (``points.csv``, ``summary_<name>.csv``), ``summary.txt`` and ``summary.md`` (all tables),
and the headline figures as parent metrics (``summary/<config>/<stat>``, ``summary/runs``, …)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rnnstudy import tracking
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable, rate


def file_name(i: int, t: StudyTable) -> str:
    if i == 0:
        return "summary.csv"
    return f"{t.name}.csv" if t.name == "points" else f"summary_{t.name}.csv"


def overall(records: list[RunRecord]) -> dict[str, float]:
    ran = [r for r in records if r.outcome != "missing"]
    return {
        "summary/runs": float(len(ran)),
        "summary/points": float(len(records)),
        "summary/solved_rate": rate(records, "solved") if ran else 0.0,
        "summary/diverged_rate": rate(records, "diverged") if ran else 0.0,
    }


def publish(c: Any, parent: str, tables: list[StudyTable], records: list[RunRecord]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for i, t in enumerate(tables):
            (d / file_name(i, t)).write_text(t.csv())
        (d / "summary.txt").write_text("\n\n".join(t.text() for t in tables) + "\n")
        (d / "summary.md").write_text("\n".join(t.markdown() for t in tables))
        tracking.log_artifacts(c, parent, d)
    heads: dict[str, float] = overall(records)
    for t in tables:
        heads.update(t.headline)
    tracking.log_metrics(c, parent, heads)
