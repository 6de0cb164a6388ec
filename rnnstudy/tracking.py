"""MLflow, the tracking contract (DESIGN §5): store, runs, params, tags, buffered metrics.

* Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working directory.
* One experiment per experiment file, one parent run per invocation, one child per grid point
  or trial (tag ``mlflow.parentRunId``).
* Metrics are buffered and sent with ``log_batch`` (one SQLite write costs milliseconds: logging
  every step one call at a time would cost a quarter of the throughput).
* Passwords in URLs are masked before anything reaches a param, tag or report.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from functools import lru_cache
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

DEFAULT_URI = "sqlite:///mlflow.db"
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_KEY_OK = re.compile(r"[^/\w.\- ]")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def mask_secrets(text: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    text = re.sub(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(?i)(password=)[^&\s]+", r"\1***", text)


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def client() -> MlflowClient:
    return MlflowClient(tracking_uri())


def experiment_id(c: MlflowClient, name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            c.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return c.create_experiment(name)


def _str(v: Any) -> str:
    return mask_secrets("None" if v is None else str(v))[:6000]


def start_run(
    c: MlflowClient,
    exp_id: str,
    name: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    parent_id: str | None = None,
) -> str:
    all_tags = {"mlflow.runName": name, "mlflow.source.git.commit": git_commit()}
    if parent_id:
        all_tags["mlflow.parentRunId"] = parent_id
    all_tags.update(tags or {})
    run = c.create_run(exp_id, run_name=name, tags={k: _str(v) for k, v in all_tags.items()})
    rid = run.info.run_id
    items = [Param(k, _str(v)) for k, v in (params or {}).items()]
    for i in range(0, len(items), 100):
        c.log_batch(rid, params=items[i : i + 100])
    return rid


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, _str(v)) for k, v in tags.items()])


def clean_value(v: float) -> float:
    v = float(v)
    if math.isinf(v):  # MLflow stores NaN but not ±inf portably
        return math.copysign(1e308, v)
    return v


class BufferedMLflowLogger(Logger):
    """A Lightning logger that buffers metrics and sends them in batches to one MLflow run."""

    def __init__(
        self, c: MlflowClient, run_id: str, flush_every: int = 5000, flush_seconds: float = 30
    ):
        super().__init__()
        self.client, self.run_id = c, run_id
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self._buf: list[Metric] = []
        self._last_flush = time.monotonic()

    @property
    def name(self) -> str:
        return "mlflow"

    @property
    def version(self) -> str:
        return self.run_id

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # the resolved config is logged once, by the runner

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        ts = int(time.time() * 1000)
        for k, v in metrics.items():
            self._buf.append(Metric(_KEY_OK.sub("_", k), clean_value(v), ts, int(step or 0)))
        if (
            len(self._buf) >= self.flush_every
            or time.monotonic() - self._last_flush > self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        buf, self._buf = self._buf, []
        for i in range(0, len(buf), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=buf[i : i + MAX_BATCH], synchronous=True)
        self._last_flush = time.monotonic()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.flush()
