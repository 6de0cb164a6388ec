"""Parameter importances of a study: PED-ANOVA and fANOVA (seeded), as rows for a CSV.

PED-ANOVA assumes lower is better, so a maximised objective is negated for it; fANOVA
(variance decomposition over a random forest, needs scikit-learn) is direction-free and is
seeded so the numbers are reproducible. Both need completed trials whose parameters vary:
with too few the evaluator is skipped and a note says why, the sweep does not fail.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import optuna
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.trial import TrialState

MIN_COMPLETE = 2


@dataclass
class Importances:
    by_method: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> param -> v
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, object]]:
        params = sorted({p for v in self.by_method.values() for p in v})
        methods = sorted(self.by_method)
        return [{"param": p, **{m: self.by_method[m].get(p) for m in methods}} for p in params]

    def metrics(self) -> dict[str, float]:
        return {
            f"importance/{m}/{p}": v for m, vals in self.by_method.items() for p, v in vals.items()
        }


def compute(study: optuna.Study, maximize: bool, seed: int = 0) -> Importances:
    out = Importances()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_COMPLETE:
        out.notes.append(
            f"importances skipped: {len(complete)} complete trial(s), need {MIN_COMPLETE}"
        )
        return out
    sign = -1.0 if maximize else 1.0
    evaluators = {
        "ped_anova": (PedAnovaImportanceEvaluator(), lambda t: sign * float(t.value)),
        "fanova": (FanovaImportanceEvaluator(seed=seed), None),
    }
    for name, (evaluator, target) in evaluators.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vals = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=target
                )
            out.by_method[name] = {k: float(v) for k, v in vals.items()}
        except Exception as err:  # too few distinct values, a single-valued space, ...
            out.notes.append(f"{name} skipped: {type(err).__name__}: {err}")
    return out
