"""The MLflow side of one run: open it (new or resumed), record a failure, close it with its
outcome, final metrics, tags and artifacts. Everything goes through ``rnnstudy.tracking``."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import yaml

from rnnstudy import tracking
from rnnstudy.checkpoint import reopen_run
from rnnstudy.config import RunConfig, flatten
from rnnstudy.mlflow_logger import BufferedMLflowLogger
from rnnstudy.outcome import RunResult


def run_tags(cfg: RunConfig) -> dict[str, str]:
    host = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus)"
    return {"cell": cfg.model.cell, "task": cfg.task.name, "clip": cfg.clip.label(), "host": host}


def open_run(
    cfg: RunConfig,
    experiment: str,
    parent_id: str | None,
    extra_tags: dict[str, Any] | None,
    resume_run: str | None,
) -> tuple[Any, str, BufferedMLflowLogger]:
    """(client, run id, logger) of a new run, or of ``resume_run`` set RUNNING again."""
    client = tracking.client()
    exp_id = tracking.experiment_id(client, experiment)
    tags = {**run_tags(cfg), "outcome": "running", **(extra_tags or {})}
    if resume_run is not None:
        return client, resume_run, reopen_run(client, resume_run, tags)
    run_id = tracking.start_run(
        client, exp_id, cfg.name, flatten(cfg.model_dump()), tags, parent_id
    )
    return client, run_id, BufferedMLflowLogger(client, run_id)


def record_failure(client, run_id: str, logger, err: BaseException) -> None:
    """The run's true state after ``err``: FAILED (KILLED for a pruned trial), tagged."""
    try:
        logger.flush()  # what was measured before the error is kept
    except Exception:
        pass  # the error being recorded matters more than the metrics
    outcome = "pruned" if type(err).__name__ == "TrialPruned" else "failed"
    tracking.set_tags(client, run_id, {"outcome": outcome, "error": repr(err)[:500]})
    client.set_terminated(run_id, "KILLED" if outcome == "pruned" else "FAILED")


def close_run(
    client, run_id: str, logger, result: RunResult, step: int, art: Path, savers: list
) -> None:
    """Final metrics at ``step``, the outcome tags, ``config.yaml`` and the arrays ``savers``
    write into ``art``, the run figures; then FINISHED."""
    final = {**result.metrics, "time/seconds": result.seconds}
    logger.log_metrics(final, step=step)
    logger.flush()
    tags = {"outcome": result.outcome, **result.tags}
    if result.reason:
        tags["diverged_reason"] = result.reason
    tracking.set_tags(client, run_id, tags)
    (art / "config.yaml").write_text(yaml.safe_dump(result.config.model_dump(), sort_keys=False))
    for save in savers:  # e.g. the gradient-time matrices, written once training is over
        save()
    client.log_artifacts(run_id, str(art))
    from rnnstudy.reporting.run_figures import log_run_figures  # matplotlib: lazily

    # figures/*.png for the MLflow UI, from the arrays just logged (no download back)
    log_run_figures(run_id, client, local=art)
    client.set_terminated(run_id, "FINISHED")
