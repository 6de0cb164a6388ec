"""Helpers and fixtures for the sweep tests (import them explicitly; not an auto conftest).

from tests.conftest_sweeps import sweep_dir, write_sweep  # noqa: F401
"""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

TINY_BASE: dict[str, Any] = {
    "seed": 0,
    "task": {"name": "copy", "A": 4, "K": 3, "T": 8},
    "model": {"cell": "lstm", "hidden_size": 8},
    "optim": {"name": "adam", "lr": 0.003},
    "train": {"max_steps": 30, "val_every": 10, "val_size": 64, "batch_size": 32},
    "probe": {"enabled": False},
}

# random lr over five decades: the low-lr trials are clearly worse at the first validation,
# so the median pruner (startup 1, no warm-up) prunes some of them (seeded: deterministic)
PRUNING_SWEEP: dict[str, Any] = {
    "metric": "val/loss",
    "n_trials": 5,
    "sampler": {"name": "random", "seed": 0},
    "pruner": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "space": {"optim.lr": {"type": "float", "low": 1.0e-5, "high": 0.1, "log": True}},
}


def write_sweep(
    folder: Path,
    name: str,
    sweep: dict[str, Any] | None,
    base: dict[str, Any] | None = None,
    **base_overrides: Any,
) -> Path:
    """Write an experiment file ``<folder>/<name>.yaml`` with a sweep section."""
    data_base = copy.deepcopy(base if base is not None else TINY_BASE)
    for section, values in base_overrides.items():
        data_base.setdefault(section, {}).update(values)
    data: dict[str, Any] = {"name": name, "base": data_base}
    if sweep is not None:
        data["sweep"] = sweep
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with its own MLflow SQLite store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.delenv("RNNSTUDY_STORAGE", raising=False)
    return tmp_path


def sweep_runs(client: MlflowClient, experiment: str) -> tuple[list, list]:
    """(parent runs, child runs) of the sweeps recorded under ``experiment``."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("rnnstudy.kind") == "sweep"]
    ids = {p.info.run_id for p in parents}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]
    return parents, children


def all_params_and_tags(client: MlflowClient) -> str:
    """Every param and tag key/value of every run of every experiment, as one string."""
    out = []
    for exp in client.search_experiments():
        for r in client.search_runs([exp.experiment_id], max_results=5000):
            out += [f"{k}={v}" for k, v in r.data.params.items()]
            out += [f"{k}={v}" for k, v in r.data.tags.items()]
    return "\n".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
