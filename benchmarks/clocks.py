"""Clocks: marks of wall-clock and CPU time, a per-training-step clock callback, a counter of
the metrics sent to the logger, the logger's write cost, and the matrix-product peak."""

from __future__ import annotations

import statistics
import time
from itertools import pairwise
from typing import Any

import pytorch_lightning as pl
import torch

from benchmarks.common import EXPERIMENT
from rnnstudy import tracking
from rnnstudy.mlflow_logger import BufferedMLflowLogger


class Clock:
    """Marks of wall-clock time (CUDA events on a GPU) and of this process's CPU time
    (user + system, all threads); ``intervals(kind)`` gives the time between marks in s."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[Any, float]] = []

    def mark(self) -> None:
        if self.cuda:
            wall: Any = torch.cuda.Event(enable_timing=True)
            wall.record()
        else:
            wall = time.perf_counter()
        self.marks.append((wall, time.process_time()))

    def intervals(self, kind: str = "wall") -> list[float]:
        if kind == "cpu":
            return [b[1] - a[1] for a, b in pairwise(self.marks)]
        if self.cuda:
            torch.cuda.synchronize()
            return [a[0].elapsed_time(b[0]) / 1e3 for a, b in pairwise(self.marks)]
        return [b[0] - a[0] for a, b in pairwise(self.marks)]


class StepClock(pl.Callback):
    """Marks the end of every training step (after every other callback's hooks) and, with a
    ``counter``, how many metrics had been sent to the logger by then."""

    def __init__(self, device: torch.device, counter: MetricCounter | None = None):
        self.clock = Clock(device)
        self.counter = counter
        self.counts: list[int] = []

    def _mark(self) -> None:
        self.clock.mark()
        self.counts.append(self.counter.count if self.counter else 0)

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._mark()

    def metrics_per_step(self) -> list[int]:
        return [b - a for a, b in pairwise(self.counts)]


class MetricCounter:
    """Counts the metrics sent to ``BufferedMLflowLogger.log_metrics`` while in a ``with``
    block (a wrapper around the method; the logger's behaviour is unchanged)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = BufferedMLflowLogger.log_metrics

    def __enter__(self) -> MetricCounter:
        original = self._original

        def counted(logger: BufferedMLflowLogger, metrics: dict, step: int | None = None):
            self.count += len(metrics)
            return original(logger, metrics, step)

        BufferedMLflowLogger.log_metrics = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        BufferedMLflowLogger.log_metrics = self._original  # type: ignore[method-assign]


def flush_cost_per_metric(batch: int = 1000, reps: int = 5) -> float:
    """Seconds per metric of the logger's batched SQLite write (``flush``), for buffers of
    ``batch`` metrics (one write: ``tracking.log_metrics``, bulk SQL on SQLite; the logger
    flushes every 5000 metrics or 30 s).
    (b)'s short timed fits rarely reach a flush, so this cost is added per metric logged."""
    client = tracking.client()
    run_id = tracking.start_run(client, tracking.experiment_id(client, EXPERIMENT), "flush-cost")
    logger = BufferedMLflowLogger(client, run_id)
    costs = []
    for r in range(reps + 1):
        for i in range(batch // 10):
            logger.log_metrics(
                {f"grad/param/p{k}": float(k * i) for k in range(10)}, step=r * batch + i
            )
        t0 = time.perf_counter()
        logger.flush()
        if r:
            costs.append((time.perf_counter() - t0) / batch)
    client.set_terminated(run_id, "FINISHED")
    return statistics.median(costs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_rate(m: int, k: int, n: int, device: torch.device, reps: int) -> float:
    """GFLOP/s of (m x k) @ (k x n), median of 5 timings of ``reps`` products."""
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)
    rates = []
    for i in range(6):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        sync(device)
        if i:
            rates.append(2.0 * m * k * n * reps / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)
