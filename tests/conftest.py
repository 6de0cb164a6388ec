"""Shared fixtures: every test that touches MLflow gets its own SQLite store in a temp dir."""

from __future__ import annotations

import os

import pytest
import torch

pytest.register_assert_rewrite("tests.experiment_helpers")
os.environ.setdefault("MPLBACKEND", "agg")
torch.set_num_threads(1)  # see TrainConfig.threads: spin-waiting OpenMP threads on a busy machine


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store; the working directory is the temp dir."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def agg_store(store, monkeypatch):
    """``store``, with ``MPLBACKEND=agg`` set for the CLI child processes the test starts."""
    monkeypatch.setenv("MPLBACKEND", "agg")
    return store


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store shared by a test module (its tests run experiments into it)."""
    d = tmp_path_factory.mktemp("mlflow")
    mp = pytest.MonkeyPatch()
    uri = f"sqlite:///{d / 'mlflow.db'}"
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MPLBACKEND", "agg")
    mp.chdir(d)
    yield uri
    mp.undo()
