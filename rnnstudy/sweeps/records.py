"""The sweep's MLflow parent run: opened per invocation, closed with the study's results.

Parent (tag ``rnnstudy.kind=sweep``): params = the sweep settings (storage URL masked), one
``space.<path>`` param per dimension. At the end: metrics ``best/value``, ``best/trial``,
``best/<path>`` (numeric parameters; all of them also as tags ``best.<path>``),
``sweep/{complete,pruned,failed,trials}``, ``importance/<method>/<path>``; artifacts
``importances.csv`` and ``trials.csv``. The children are the trials' runs (``objective``).
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from rnnstudy import tracking
from rnnstudy.sweeps.importances import Importances
from rnnstudy.sweeps.plan import SweepPlan
from rnnstudy.sweeps.recovery import retried_from, retry_history
from rnnstudy.sweeps.samplers import describe


def ensure_experiment(c: tracking.Client, name: str) -> str:
    """``tracking.experiment_id``, safe when several workers create the experiment at once."""
    for _ in range(3):
        try:
            return tracking.experiment_id(c, name)
        except tracking.MlflowException:
            time.sleep(0.5)  # another worker created it between our get and create
    return tracking.experiment_id(c, name)


def start_parent(c: tracking.Client, plan: SweepPlan, storage_label: str) -> str:
    sampler, pruner = describe(plan.spec)
    params: dict[str, Any] = {
        "file": plan.file,
        "study": plan.study,
        "storage": storage_label,
        "n_trials": plan.spec.n_trials,
        "metric": plan.spec.metric,
        "direction": plan.spec.direction,
        "sampler": sampler,
        "pruner": pruner,
        "profile": plan.profile,
        "timeout": plan.spec.timeout,
    }
    for path, p in plan.spec.space.items():
        params[f"space.{path}"] = p.model_dump_json(exclude_none=True)
    for path, v in plan.sets.items():
        params[f"set.{path}"] = v
    tags = {
        "rnnstudy.kind": "sweep",
        "optuna_study": plan.study,
        "optuna_storage": storage_label,
        "profile": plan.profile or "full",
        "outcome": "running",
    }
    exp_id = ensure_experiment(c, plan.experiment)
    return tracking.start_run(c, exp_id, f"sweep {plan.study}", params, tags)


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name,
            "value": t.value,
            "last_step": max(t.intermediate_values, default=None),
            "retry_of": retried_from(t),
        }
        row.update({k: v for k, v in t.params.items()})
        rows.append(row)
    return rows


def counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in retry_history(t)}
    return {
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL and t.number not in retried for t in trials),
        "retried": len(retried),
        "trials": len(trials),
    }


def _csv(rows: list[dict[str, Any]], header: list[str]) -> str:
    buf = io.StringIO()
    fields = list(dict.fromkeys(header + [k for r in rows for k in r]))
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def finish_parent(
    c: tracking.Client,
    parent: str,
    study: optuna.Study,
    plan: SweepPlan,
    imps: Importances,
    ran_here: int,
    status: str = "FINISHED",
) -> None:
    metrics = {f"sweep/{k}": float(v) for k, v in counts(study).items()}
    metrics["sweep/trials_this_run"] = float(ran_here)
    tags: dict[str, Any] = {"outcome": "finished" if status == "FINISHED" else "interrupted"}
    try:
        best = study.best_trial
    except ValueError:
        best = None
        tags["best"] = "none (no complete trial)"
    if best is not None and best.value is not None:
        metrics["best/value"] = float(best.value)
        metrics["best/trial"] = float(best.number)
        for k, v in best.params.items():
            tags[f"best.{k}"] = v
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                metrics[f"best/{k}"] = float(v)
    metrics.update(imps.metrics())
    if imps.notes:
        tags["importance_note"] = "; ".join(imps.notes)
    tracking.log_metrics(c, parent, metrics)
    tracking.set_tags(c, parent, tags)
    with tempfile.TemporaryDirectory() as tmp:
        imp_rows = imps.rows()
        (Path(tmp) / "importances.csv").write_text(_csv(imp_rows, ["param", "fanova", "ped_anova"]))
        (Path(tmp) / "trials.csv").write_text(_csv(trial_rows(study), ["trial", "state", "value"]))
        tracking.log_artifact(c, parent, Path(tmp) / "importances.csv")
        tracking.log_artifact(c, parent, Path(tmp) / "trials.csv")
    c.set_terminated(parent, status)
