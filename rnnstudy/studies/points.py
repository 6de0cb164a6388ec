"""The per-point table (``points.csv`` on the parent run): one row per grid point."""

from __future__ import annotations

from rnnstudy.resume import config_hash
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.table import StudyTable

COLUMNS = ["point", "outcome", "metric", "final", "chance", "steps_to_solve", "seconds"]


def point_table(records: list[RunRecord]) -> StudyTable:
    rows = []
    for r in records:
        task = r.config.task
        rows.append(
            {
                "point": r.label,
                "cell": r.config.model.cell,
                "task": r.config.task.name,
                "clip": r.config.clip.label(),
                "seed": r.config.seed,
                "outcome": r.outcome,
                "metric": task.metric,
                "final": r.final,
                "chance": task.chance_metric,
                "steps_to_solve": r.steps_to_solve,
                "seconds": r.metric("time/seconds"),
                "config_hash": config_hash(r.config),
                "run_id": r.run_id,
            }
        )
    return StudyTable("points", "Per point", rows, None)
