"""Optuna sweeps on one machine: pruning, states in MLflow, resume, validation, importances.

.venv/bin/pytest -q tests/test_sweeps.py          (about a minute on 2 cores)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from rnnstudy import tracking
from rnnstudy.cli import main
from rnnstudy.config import ConfigError
from rnnstudy.experiment import load_experiment
from rnnstudy.sweeps import importances
from rnnstudy.sweeps.plan import make_plan
from rnnstudy.sweeps.samplers import build_sampler
from rnnstudy.sweeps.space import SweepSpec
from rnnstudy.sweeps.storage import open_storage
from tests.conftest_sweeps import PRUNING_SWEEP, sweep_dir, sweep_runs, write_sweep  # noqa: F401
from tests.helpers import start_sweep

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def load(name: str, folder: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(folder / "optuna" / f"{name}.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def test_quick_sweep_prunes_and_records_real_states(sweep_dir: Path) -> None:  # noqa: F811
    path = write_sweep(sweep_dir, "quick", PRUNING_SWEEP)
    assert main(["sweep", str(path), "--no-progress", "--jobs", "1"]) == 0

    study = load("quick", sweep_dir)
    trials = study.get_trials()
    assert len(trials) == 5
    assert all(t.state in FINISHED for t in trials)
    states = {t.number: t.state.name for t in trials}
    assert "PRUNED" in states.values(), states
    assert "COMPLETE" in states.values(), states

    c = tracking.client()
    parents, children = sweep_runs(c, "quick")
    assert len(parents) == 1 and len(children) == 5
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    for run in children:
        tags = run.data.tags
        n = int(tags["optuna_trial_number"])
        assert tags["optuna_study"] == "quick"
        assert tags["optuna_state"] == states[n], (n, tags)
        if states[n] == "PRUNED":
            assert tags["outcome"] == "pruned" and run.info.status == "KILLED"
        else:
            assert tags["outcome"] in ("solved", "unsolved") and run.info.status == "FINISHED"
        assert "optim.lr" in run.data.params

    best = study.best_trial
    m = parent.data.metrics
    assert m["best/value"] == pytest.approx(best.value)
    assert m["best/trial"] == best.number
    assert m["sweep/pruned"] == sum(s == "PRUNED" for s in states.values())
    assert "importance/ped_anova/optim.lr" in m and "importance/fanova/optim.lr" in m
    names = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert {"importances.csv", "trials.csv"} <= names
    csv_path = c.download_artifacts(parent.info.run_id, "importances.csv", str(sweep_dir))
    assert Path(csv_path).read_text().splitlines()[0] == "param,fanova,ped_anova"


def interrupt_mid_trial(path: Path, folder: Path, sig: int, complete: int) -> tuple[int, int]:
    """Run the CLI in a subprocess; once ``complete`` trials are COMPLETE and another has
    validated at least once, send ``sig``. Returns (exit code, number of the trial hit)."""
    journal = folder / "optuna" / f"{path.stem}.journal"
    proc = start_sweep(path, folder, jobs=1)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if not journal.exists():
                continue
            trials = load(path.stem, folder).get_trials()
            done = sum(t.state == TrialState.COMPLETE for t in trials)
            hit = [
                t.number for t in trials if t.state == TrialState.RUNNING and t.intermediate_values
            ]
            if done >= complete and hit:
                os.kill(proc.pid, sig)
                return proc.wait(timeout=60), hit[0]
        out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
        raise AssertionError(f"no trial caught mid-way (exit {proc.poll()}):\n{out}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_resume_after_ctrl_c_and_kill_keeps_finished_trials(sweep_dir: Path) -> None:  # noqa: F811
    sweep = {**PRUNING_SWEEP, "n_trials": 4, "pruner": "none"}
    path = write_sweep(sweep_dir, "resume", sweep, train={"max_steps": 80, "val_every": 10})

    # Ctrl-C mid-trial: that trial is FAIL and queued again (WAITING, same params), exit 130
    code, hit = interrupt_mid_trial(path, sweep_dir, signal.SIGINT, complete=1)
    assert code == 130
    trials = load("resume", sweep_dir).get_trials()
    assert trials[hit].state == TrialState.FAIL
    queued = [t for t in trials if t.system_attrs.get("failed_trial") == hit]
    assert [t.state for t in queued] == [TrialState.WAITING]
    assert queued[0].params == trials[hit].params

    # killed outright mid-trial (no clean-up at all): the trial is left RUNNING
    code, killed = interrupt_mid_trial(path, sweep_dir, signal.SIGKILL, complete=2)
    assert code == -signal.SIGKILL
    before = {
        t.number: (t.state, t.params, t.value) for t in load("resume", sweep_dir).get_trials()
    }
    assert before[killed][0] == TrialState.RUNNING
    finished_before = {n: v for n, v in before.items() if v[0] == TrialState.COMPLETE}
    assert len(finished_before) >= 2

    assert main(["sweep", str(path), "--no-progress", "--jobs", "1"]) == 0
    trials = load("resume", sweep_dir).get_trials()
    retried = {
        t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs
    }
    assert set(retried) == {hit, killed}
    assert all(t.state in FINISHED for t in trials)
    counted = [t for t in trials if t.number not in retried]
    assert len(counted) == 4
    for n, (state, params, value) in finished_before.items():  # kept as they were
        assert (trials[n].state, trials[n].params, trials[n].value) == (state, params, value)
    assert trials[killed].state == TrialState.FAIL  # its dead worker was noticed...
    assert retried[killed].params == before[killed][1]  # ...and it ran again, same params
    assert retried[killed].state == TrialState.COMPLETE

    c = tracking.client()
    parents, children = sweep_runs(c, "resume")
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED", "KILLED"]
    numbers = [int(r.data.tags["optuna_trial_number"]) for r in children]
    for n in finished_before:  # each finished trial trained exactly once
        assert numbers.count(n) == 1, numbers
    assert sorted(numbers) == [t.number for t in trials]
    states = {
        int(r.data.tags["optuna_trial_number"]): r.data.tags["optuna_state"] for r in children
    }
    assert states == {t.number: t.state.name for t in trials}

    # growing the study later runs only the difference
    assert main(["sweep", str(path), "--no-progress", "--jobs", "1", "--n-trials", "5"]) == 0
    assert len(load("resume", sweep_dir).get_trials()) == len(trials) + 1


def test_diverged_trials_fail_and_the_study_goes_on(sweep_dir: Path) -> None:  # noqa: F811
    sweep = {
        "metric": "val/loss",
        "n_trials": 2,
        "pruner": "none",
        "space": {"optim.lr": {"type": "categorical", "choices": [1.0e4, 1.0e5]}},
    }
    path = write_sweep(
        sweep_dir,
        "diverge",
        sweep,
        model={"cell": "rnn", "nonlinearity": "relu", "recurrent_gain": 3.0},
        optim={"name": "sgd"},
        clip={"mode": "none"},
    )
    assert main(["sweep", str(path), "--no-progress", "--jobs", "1"]) == 0
    trials = load("diverge", sweep_dir).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["outcome"] == "diverged" for t in trials)
    parents, children = sweep_runs(tracking.client(), "diverge")
    assert len(children) == 2
    for run in children:
        assert run.data.tags["outcome"] == "diverged"
        assert run.data.tags["optuna_state"] == "FAIL"
    tags = parents[0].data.tags
    assert "importances skipped" in tags["importance_note"]
    assert parents[0].info.status == "FINISHED"


def test_tpe_with_hyperband_runs(sweep_dir: Path) -> None:  # noqa: F811
    sweep = {
        "n_trials": 3,
        "sampler": {"name": "tpe", "seed": 1, "n_startup_trials": 2},
        "pruner": {"name": "hyperband", "max_resource": 30},
        "space": {
            "optim.lr": {"type": "float", "low": 1.0e-3, "high": 0.05, "log": True},
            "model.cell": {"type": "categorical", "choices": ["lstm", "gru"]},
            "model.hidden_size": {"type": "int", "low": 4, "high": 12, "step": 4},
        },
    }
    path = write_sweep(sweep_dir, "hb", sweep)
    assert main(["sweep", str(path), "--no-progress", "--jobs", "1"]) == 0
    study = load("hb", sweep_dir)
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state in FINISHED for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3
    assert all(t.params["model.hidden_size"] in (4, 8, 12) for t in trials)


BAD_SWEEPS = [
    ({"space": {"optim.lrr": {"type": "float", "low": 1, "high": 2}}}, "no such config field"),
    ({"space": {"model": {"type": "int", "low": 1, "high": 2}}}, "is a section"),
    ({"space": {"optim.lr": {"type": "float", "low": 1, "high": 0.1}}}, "low must be <= high"),
    ({"space": {"optim.lr": {"type": "float", "low": 0, "high": 1, "log": True}}}, "log scale"),
    ({"space": {"optim.lr": {"type": "float", "low": 0, "high": 1}}}, "greater than 0"),
    ({"space": {"model.cell": {"type": "categorical", "choices": ["lstm", "tcn"]}}}, "'tcn'"),
    ({"space": {"optim.lr": {"type": "uniform", "low": 0, "high": 1}}}, "sweep.space.optim.lr"),
    ({"space": {}}, "sweep.space"),
    ({"metric": "val/bleu", "space": {"seed": {"type": "int", "low": 0, "high": 3}}}, "val/bleu"),
    ({"metric": "val/mse", "space": {"seed": {"type": "int", "low": 0, "high": 3}}}, "allowed"),
    (
        {"pruner": "sometimes", "space": {"seed": {"type": "int", "low": 0, "high": 3}}},
        "sweep.pruner",
    ),
    ({"n_trials": 0, "space": {"seed": {"type": "int", "low": 0, "high": 3}}}, "sweep.n_trials"),
    (None, "no `sweep:` section"),
]


@pytest.mark.parametrize(("sweep", "message"), BAD_SWEEPS)
def test_bad_sweep_fails_before_any_trial(
    sweep_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    sweep: dict | None,
    message: str,
) -> None:
    path = write_sweep(sweep_dir, "bad", sweep)
    with pytest.raises(ConfigError) as err:
        make_plan(load_experiment(path), str(path))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert main(["sweep", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("rnnstudy: error:") and "\n" not in line
    assert not (sweep_dir / "optuna").exists()
    assert not (sweep_dir / "mlflow.db").exists()


def test_defaults_and_resolution() -> None:
    spec = SweepSpec.model_validate(
        {"sampler": "random", "space": {"seed": {"type": "int", "low": 0, "high": 1}}}
    )
    assert spec.sampler.name == "random" and spec.pruner.name == "median"
    assert spec.resolved("val/acc").direction == "maximize"
    assert spec.resolved("val/mse").direction == "minimize"


def test_default_sweep_file_is_valid() -> None:
    path = Path(__file__).parent.parent / "experiments" / "sweep_lstm_copy.yaml"
    plan = make_plan(load_experiment(path), str(path))
    assert plan.study == "sweep_lstm_copy" and plan.spec.metric == "val/acc"
    quick = make_plan(load_experiment(path), str(path), profile="quick")
    assert quick.study == "sweep_lstm_copy-quick" and quick.base["train"]["max_steps"] <= 50


def test_seeded_sampler_differs_per_trial_but_repeats_per_number() -> None:
    spec = SweepSpec.model_validate(
        {
            "sampler": {"name": "tpe", "seed": 3},
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
        }
    )

    def draws() -> list[float]:
        study = optuna.create_study(sampler=build_sampler(spec))
        out = []
        for _ in range(3):
            t = study.ask()
            out.append(t.suggest_float("x", 0, 1))
            study.tell(t, 0.0)
        return out

    a, b = draws(), draws()
    assert a == b  # reproducible from the trial number
    assert len(set(a)) == 3  # but not the same draw for every trial (or every worker)


def test_importances_skip_with_too_few_trials() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    imps = importances.compute(study, maximize=True)
    assert imps.by_method == {} and "importances skipped" in imps.notes[0]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0 * t.suggest_int("n", 0, 3), n_trials=12)
    imps = importances.compute(study, maximize=True, seed=0)
    assert set(imps.by_method) == {"ped_anova", "fanova"}
    assert imps.by_method["fanova"]["x"] > imps.by_method["fanova"]["n"]
    assert imps.rows()[0].keys() == {"param", "fanova", "ped_anova"}


def test_storage_url_password_is_masked_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        open_storage("postgresql://rnn:Hunter2pw@127.0.0.1:1/optuna", "s", heartbeat=1, grace=3)
    assert "Hunter2pw" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(ConfigError):
        open_storage("redis://h/0", "s")
