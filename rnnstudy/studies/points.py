"""The per-point table (``points.csv`` on the parent run): one row per grid point."""

from __future__ import annotations

from rnnstudy.resume import config_hash
from rnnstudy.studies.records import PointRecord
from rnnstudy.studies.table import StudyTable
from rnnstudy.tasks import build_task

COLUMNS = ["point", "outcome", "metric", "final", "chance", "steps_to_solve", "seconds"]


def point_table(records: list[PointRecord]) -> StudyTable:
    rows = []
    for r in records:
        task = build_task(r.config.task)
        rows.append(
            {
                "point": r.point.label,
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
