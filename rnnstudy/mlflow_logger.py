"""The Lightning logger that records a run's metrics in MLflow, in batches.

One SQLite write costs milliseconds, so metrics are buffered and sent through
``rnnstudy.tracking.log_metrics`` (``log_batch``, up to 1,000 points a call) every
``flush_every`` points or ``flush_seconds`` seconds, and at the end of training. It talks to
MLflow only through ``rnnstudy.tracking``.

A run resumed from a checkpoint (``rnnstudy.checkpoint``) passes ``skip_to``: per metric key the
largest step the store already holds; points of that key at or below it are dropped (they are
in the store already), so no step is logged twice.
"""

from __future__ import annotations

import time
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

from rnnstudy import tracking


class BufferedMLflowLogger(Logger):
    """A Lightning logger that buffers metrics and sends them in batches to one MLflow run."""

    def __init__(
        self,
        c: Any,
        run_id: str,
        flush_every: int = 5000,
        flush_seconds: float = 30,
        skip_to: dict[str, int] | None = None,
    ):
        super().__init__()
        self.skip_to = skip_to or {}  # key -> largest step already stored (a resumed run)
        self.client, self.run_id = c, run_id
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self._buf: list[tuple[str, float, int, int]] = []  # key, value, step, ms
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
        ts, step = int(time.time() * 1000), int(step or 0)
        if self.skip_to:
            metrics = {
                k: v
                for k, v in metrics.items()
                if step > self.skip_to.get(tracking.clean_key(k), -1)
            }
        self._buf.extend((k, float(v), step, ts) for k, v in metrics.items())
        if (
            len(self._buf) >= self.flush_every
            or time.monotonic() - self._last_flush > self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        buf, self._buf = self._buf, []
        if buf:
            tracking.log_metrics(self.client, self.run_id, buf)
        self._last_flush = time.monotonic()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.flush()
