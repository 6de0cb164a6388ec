"""Run an experiment's grid points, one after another or in N worker processes.

    rnnstudy experiment experiments/clip_ablation.yaml             # --jobs = cores() by default
    rnnstudy experiment experiments/clip_ablation.yaml --jobs 1    # in this process

Each point is handed to exactly one call of ``run_one`` (the single training loop) with the
parent run id, in this process (``jobs=1``, or a single point) or in a pool of ``min(jobs,
points)`` worker processes (``spawn`` context: no forked torch/SQLite state). The pool's
workers are reused from point to point, so importing torch and Lightning is paid once per
worker, at its start (``_init_worker``), while the other workers import too. Workers start with
``max(1, cores // jobs)`` torch threads (one each when ``jobs = cores``; ``run_one`` then applies
``train.threads``, default 1) and a retrying MLflow client (``rnnstudy.mlflow_retry``) so that
concurrent writers to one SQLite store wait for each other instead of losing a run. A point
that raises is reported as failed; the experiment goes on. For many machines, use an MLflow
tracking server instead (DESIGN §5).

This module imports neither torch nor the training code at import time (the CLI reads
``cores()`` to show the default).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnstudy.experiment import Point


@dataclass
class PointDone:
    """What the caller learns about one point (the full record is read back from MLflow)."""

    label: str
    outcome: str  # solved | unsolved | diverged | failed
    seconds: float
    run_id: str | None = None
    error: str = ""


Report = Callable[[int, int, PointDone], None]


def cores() -> int:
    """CPU cores this process may run on (the default of ``--jobs``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    return max(1, cores() // max(1, jobs))


def _init_worker(threads: int) -> None:
    import torch

    import rnnstudy.mlflow_retry as mlflow_retry

    torch.set_num_threads(threads)
    os.environ.setdefault("MPLBACKEND", "agg")
    warnings.filterwarnings("ignore")
    mlflow_retry.install()
    from rnnstudy import startup

    startup.load_training()  # the import cost, once per worker, at its start


def run_point(
    cfg_data: dict[str, Any],
    label: str,
    experiment: str,
    parent_id: str | None,
    tags: dict[str, str],
    progress: bool = False,
    resume_run: str | None = None,
) -> PointDone:
    """Train one point (in whichever process this runs); never raises for a failed run.
    ``resume_run``: an interrupted run of this point to continue from its checkpoint."""
    from rnnstudy.config import parse_run
    from rnnstudy.runner import run_one

    t0 = time.perf_counter()
    try:
        res = run_one(
            parse_run(cfg_data),
            experiment=experiment,
            parent_id=parent_id,
            extra_tags=tags,
            progress=progress,
            resume_run=resume_run,
        )
    except Exception as err:  # recorded FAILED in MLflow by run_one; the experiment goes on
        return PointDone(label, "failed", time.perf_counter() - t0, error=repr(err)[:500])
    return PointDone(label, res.outcome, res.seconds, res.run_id)


def run_points(
    points: list[Point],
    tags: list[dict[str, str]],
    *,
    experiment: str,
    parent_id: str | None,
    jobs: int = 1,
    progress: bool = False,
    report: Report | None = None,
    resume: list[str | None] | None = None,
) -> list[PointDone]:
    """Run every point once; ``tags[i]`` are extra tags for point i; ``resume[i]``, if given,
    an interrupted run of point i to continue from its checkpoint. Results in point order."""
    n = len(points)
    again = resume or [None] * n
    args = [
        (p.config.model_dump(mode="json"), p.label, experiment, parent_id, t)
        for p, t in zip(points, tags, strict=True)
    ]
    done: list[PointDone | None] = [None] * n
    if jobs <= 1 or n <= 1:
        for i, a in enumerate(args):
            done[i] = run_point(*a, progress=progress, resume_run=again[i])
            if report:
                report(i, n, done[i])
        return [d for d in done if d is not None]
    ctx = mp.get_context("spawn")
    workers = min(jobs, n)
    with ProcessPoolExecutor(workers, ctx, _init_worker, (threads_per_job(workers),)) as pool:
        futures: dict[Future, int] = {
            pool.submit(run_point, *a, resume_run=again[i]): i for i, a in enumerate(args)
        }
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    i = futures[f]
                    try:
                        done[i] = f.result()
                    except Exception as err:  # the worker process died (killed, out of memory)
                        done[i] = PointDone(points[i].label, "failed", 0.0, error=repr(err)[:500])
                    if report:
                        report(i, n, done[i])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [d for d in done if d is not None]
