"""What a study summary is computed from: one record per grid point, read back from MLflow.

Summaries read the child runs of the parent (not in-memory results), so a resumed experiment,
whose earlier points ran in another process, is summarised exactly like one run in one go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnstudy import tracking
from rnnstudy.experiment import Point
from rnnstudy.resume import HASH_TAG, finished_by_hash
from rnnstudy.tasks import build_task


@dataclass
class PointRecord:
    point: Point
    run: tracking.Run | None  # the FINISHED child run, else the latest failed one, else None
    client: Any = None
    _history: dict[str, list[tuple[int, float]]] = field(default_factory=dict, repr=False)

    @property
    def config(self):
        return self.point.config

    @property
    def outcome(self) -> str:
        if self.run is None:
            return "missing"
        tag = self.run.data.tags.get("outcome", "unknown")
        if self.run.info.status != "FINISHED" and tag in ("running", "unknown"):
            return "failed"
        return tag

    @property
    def run_id(self) -> str | None:
        return self.run.info.run_id if self.run else None

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of every metric of the child run."""
        return dict(self.run.data.metrics) if self.run else {}

    def metric(self, key: str) -> float:
        return float(self.metrics.get(key, math.nan))

    @property
    def primary_key(self) -> str:
        """``final/acc`` or ``final/mse``: the task's deciding metric at the end of training."""
        return "final/" + build_task(self.config.task).metric.split("/", 1)[1]

    @property
    def final(self) -> float:
        return self.metric(self.primary_key)

    @property
    def steps_to_solve(self) -> float:
        return self.metric("steps_to_solve")

    def history(self, key: str) -> list[tuple[int, float]]:
        """[(step, value)] of one metric, in step order (fetched once)."""
        if self.run is None or self.client is None:
            return []
        if key not in self._history:
            hist = tracking.metric_history(self.client, self.run_id, key)
            self._history[key] = [(step, value) for step, value, _ in hist]
        return self._history[key]

    def first(self, key: str) -> float:
        h = self.history(key)
        return h[0][1] if h else math.nan

    def gradtime(self, layer: str = "l0") -> dict[str, np.ndarray] | None:
        """The ``gradtime/<layer>.npz`` artifact: norms (probe step x time step), steps, time."""
        if self.run is None or self.client is None:
            return None
        return tracking.read_npz(self.client, self.run_id, f"gradtime/{layer}.npz")


def collect(client: Any, exp_id: str, parent_id: str, points: list[Point]) -> list[PointRecord]:
    """One record per point, matched to the parent's FINISHED children by ``config_hash``."""
    from rnnstudy.resume import children, config_hash

    runs = children(client, exp_id, parent_id)
    finished = finished_by_hash(runs)
    latest = {
        r.data.tags.get(HASH_TAG): r for r in sorted(runs, key=lambda r: r.info.start_time or 0)
    }
    out = []
    for p in points:
        h = config_hash(p.config)
        out.append(PointRecord(p, finished.get(h) or latest.get(h), client))
    return out


__all__ = ["HASH_TAG", "PointRecord", "collect"]
