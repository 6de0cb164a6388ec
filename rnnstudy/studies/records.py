"""The one record every table is computed from: a child run, read back from MLflow, with its
run config and its labels (``rnnstudy.labels``). Torch-free: the report builds the same records.

Two ways in, one type out:
- ``collect`` (``rnnstudy experiment``): one record per grid point, matched to the parent's
  children by ``config_hash``; a point that never ran is a record with ``run=None``
  (outcome ``missing``).
- ``from_runs`` (the report, ``rnnstudy run``): one record per run; the config is rebuilt from
  the run's params, the labels are its ``point`` and ``config`` tags.

Summaries read runs, not in-memory results, so a resumed experiment, whose earlier points ran in
another process, is summarised exactly like one run in one go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from rnnstudy import tracking
from rnnstudy.config import ConfigError, RunConfig, apply_overrides, parse_run
from rnnstudy.resume import HASH_TAG, children, config_hash, finished_by_hash

POINT_TAG = "point"  # the point label, seed included
CONFIG_TAG = "config"  # the configuration label: the point minus its seed


@dataclass
class RunRecord:
    config: RunConfig
    label: str  # "rnn · copy · seed=0"
    config_label: str  # "rnn · copy": runs that differ only by seed share it
    run: tracking.Run | None  # the FINISHED child run, else the latest failed one, else None
    client: Any = None
    _history: dict[str, list[tuple[int, float]]] = field(default_factory=dict, repr=False)

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
    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags) if self.run else {}

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of every metric of the child run."""
        return dict(self.run.data.metrics) if self.run else {}

    def metric(self, key: str) -> float:
        return float(self.metrics.get(key, math.nan))

    @property
    def primary_key(self) -> str:
        """``final/acc`` or ``final/mse``: the task's deciding metric at the end of training."""
        return "final/" + self.config.task.metric.split("/", 1)[1]

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


def collect(client: Any, exp_id: str, parent_id: str, points: list[Any]) -> list[RunRecord]:
    """One record per point (``experiment.Point``), matched to the parent's FINISHED children
    by ``config_hash``."""
    runs = children(client, exp_id, parent_id)
    finished = finished_by_hash(runs)
    latest = {
        r.data.tags.get(HASH_TAG): r for r in sorted(runs, key=lambda r: r.info.start_time or 0)
    }
    out = []
    for p in points:
        h = config_hash(p.config)
        run = finished.get(h) or latest.get(h)
        out.append(RunRecord(p.config, p.label, p.config_label, run, client))
    return out


def param_value(text: str) -> Any:
    """A logged param back as input for the config (``tracking`` writes ``str(v)``, and
    ``"None"`` for None): ``"None"`` -> None, lists and mappings parsed; any other text stays
    text, which the config's own types read (``"8"`` for an int field, ``"32"`` for the
    precision, ``"none"`` for a clip mode).

    >>> [param_value(t) for t in ("None", "none", "32", "[1, 2]")]
    [None, 'none', '32', [1, 2]]
    """
    if text == "None":
        return None
    if text[:1] in ("[", "{"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


def run_config(params: dict[str, str]) -> RunConfig | None:
    """A run's config rebuilt from its flattened params (None if they do not make one). A
    ``None`` param that the config refuses (a field another task has) is left out."""
    values = {k: param_value(v) for k, v in params.items()}
    for attempt in (values, {k: v for k, v in values.items() if v is not None}):
        try:
            return parse_run(apply_overrides({}, attempt))
        except (ConfigError, ValueError, TypeError, AttributeError):
            continue
    return None


def from_run(client: Any, run: tracking.Run, config_label: str | None = None) -> RunRecord | None:
    """The record of one run, in the configuration ``config_label`` when given (the report's
    label, which is the ``config`` tag where the run has one), else its ``config`` tag."""
    cfg = run_config(dict(run.data.params))
    if cfg is None:
        return None
    tags = run.data.tags
    label = tags.get(POINT_TAG) or tags.get("mlflow.runName") or run.info.run_id[:8]
    return RunRecord(cfg, label, config_label or tags.get(CONFIG_TAG) or label, run, client)


__all__ = [
    "CONFIG_TAG",
    "HASH_TAG",
    "POINT_TAG",
    "RunRecord",
    "collect",
    "from_run",
    "param_value",
    "run_config",
]
