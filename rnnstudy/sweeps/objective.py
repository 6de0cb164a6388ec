"""One trial: sample the space, build the run config, train with ``run_one``, judge the result.

The objective is the same runner as ``rnnstudy run`` (an MLflow child run under the sweep's
parent), with ``PruningReporter`` added. The trial's fate, decided here and told to Optuna by
the study loop:

==================================  ===========  =============================
what happened                       Optuna       MLflow child tags
==================================  ===========  =============================
trained; metric finite              COMPLETE     outcome=solved|unsolved
pruner stopped it                   PRUNED       outcome=pruned
loss/gradient not finite            FAIL         outcome=diverged
sampled values make a bad config    FAIL         (no run; user attr fail_reason)
any other error                     FAIL         outcome=failed
==================================  ===========  =============================

``optuna_state`` on the child is set after Optuna has been told (``tag_child``), so a pruned
run is tagged PRUNED even though MLflow's own status for it is KILLED.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnstudy import tracking
from rnnstudy.config import ConfigError
from rnnstudy.runner import run_one
from rnnstudy.sweeps.plan import SweepPlan
from rnnstudy.sweeps.pruning import PruningReporter
from rnnstudy.sweeps.recovery import retried_from, worker_id
from rnnstudy.sweeps.space import suggest

log = logging.getLogger("rnnstudy")


@dataclass
class TrialOutcome:
    state: TrialState
    value: float | None = None
    run_id: str | None = None
    outcome: str = ""  # the runner's: solved | unsolved | diverged | pruned | failed | invalid
    note: str = ""
    seconds: float = 0.0


def run_trial(
    plan: SweepPlan,
    trial: optuna.trial.Trial,
    frozen: FrozenTrial,
    parent_id: str,
    progress: bool = False,
) -> TrialOutcome:
    """Train the trial's config. KeyboardInterrupt propagates (the loop records it)."""
    trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("mlflow_parent_id", parent_id)
    trial.set_user_attr("mlflow_run_id", "")
    values = suggest(trial, plan.spec.space)
    try:
        cfg = plan.config(values, trial.number)
    except ConfigError as err:
        return TrialOutcome(TrialState.FAIL, outcome="invalid", note=str(err))
    reporter = PruningReporter(trial, str(plan.spec.metric))
    tags = {
        "rnnstudy.kind": "trial",
        "optuna_study": plan.study,
        "optuna_trial_number": trial.number,
        "optuna_state": "RUNNING",
    }
    if retried_from(frozen) is not None:
        tags["optuna_retry_of"] = retried_from(frozen)
    try:
        result = run_one(
            cfg,
            experiment=plan.experiment,
            parent_id=parent_id,
            extra_tags=tags,
            callbacks=[reporter],
            progress=progress,
        )
    except optuna.TrialPruned as err:
        return TrialOutcome(TrialState.PRUNED, None, reporter.run_id, "pruned", str(err))
    except Exception as err:
        log.exception("trial %d failed", trial.number)
        return TrialOutcome(TrialState.FAIL, None, reporter.run_id, "failed", repr(err)[:500])
    out = TrialOutcome(TrialState.FAIL, None, result.run_id, result.outcome, seconds=result.seconds)
    if result.outcome == "diverged":
        out.note = result.reason or "diverged"
        return out
    value = result.metrics.get(plan.final_key)
    if value is None or not math.isfinite(value):
        out.note = f"{plan.final_key} is {value}"
        return out
    out.state, out.value = TrialState.COMPLETE, float(value)
    return out


def tag_child(trial: FrozenTrial, out: TrialOutcome) -> None:
    """Record Optuna's final word on the trial on its MLflow child run."""
    if not out.run_id:
        return
    tags: dict[str, object] = {"optuna_state": trial.state.name}
    if trial.value is not None:
        tags["optuna_value"] = f"{trial.value:.6g}"
    if out.state == TrialState.PRUNED:
        tags["outcome"] = "pruned"
        tags["pruned_at_step"] = max(trial.intermediate_values, default=0)
    if out.note and out.state != TrialState.COMPLETE:
        tags["optuna_note"] = out.note
    tracking.set_tags(tracking.client(), out.run_id, tags)
