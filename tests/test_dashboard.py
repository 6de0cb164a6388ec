"""optuna-dashboard over a real sweep's storage: the study and its trials through its HTTP API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from rnnstudy.cli import main
from rnnstudy.config import ConfigError
from rnnstudy.sweeps.dashboard import resolve
from rnnstudy.sweeps.storage import open_storage
from tests.conftest_sweeps import PRUNING_SWEEP, free_port, sweep_dir, write_sweep  # noqa: F401


def get_json(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def dashboard_reads(storage: str, study_name: str, cwd: Path) -> tuple[dict, dict, str]:
    """Start ``rnnstudy dashboard STORAGE`` and read (study summary, study detail, banner)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnstudy.sweeps.dashboard", storage, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        listing = get_json(f"http://127.0.0.1:{port}/api/studies")
        (summary,) = [s for s in listing["study_summaries"] if s["study_name"] == study_name]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    return summary, detail, out


def test_dashboard_shows_the_sweeps_study_and_trials(sweep_dir: Path) -> None:  # noqa: F811
    path = write_sweep(sweep_dir, "dash", PRUNING_SWEEP)
    assert main(["sweep", str(path), "--no-progress", "--jobs", "1"]) == 0
    journal = sweep_dir / "optuna" / "dash.journal"
    study = optuna.load_study(study_name="dash", storage=open_storage(str(journal), "dash").storage)
    truth = study.get_trials()

    summary, detail, banner = dashboard_reads(str(path), "dash", sweep_dir)  # via the yaml
    assert banner.startswith("optuna-dashboard on http://127.0.0.1:")
    assert summary["directions"] == [study.direction.name.lower()] == ["minimize"]
    got = {t["number"]: t for t in detail["trials"]}
    assert sorted(got) == [t.number for t in truth] == list(range(5))
    for t in truth:
        assert got[t.number]["state"].upper() == t.state.name
        assert got[t.number]["values"] == ([t.value] if t.value is not None else None)
        assert {p["name"] for p in got[t.number]["params"]} == set(t.params)
    pruned = [t for t in truth if t.state.name == "PRUNED"]
    assert pruned and all(got[t.number]["intermediate_values"] for t in pruned)


def test_storage_argument_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNSTUDY_STORAGE", raising=False)
    with pytest.raises(ConfigError, match="optuna/\\*.journal here: none"):
        resolve(None)
    (tmp_path / "optuna").mkdir()
    (tmp_path / "optuna" / "s-quick.journal").write_text("")
    assert resolve(None) == "optuna/s-quick.journal"
    (tmp_path / "s.yaml").write_text("name: s\nbase: {}\n")
    assert resolve("s.yaml", "quick") == "optuna/s-quick.journal"
    with pytest.raises(ConfigError, match="no sweep journal at optuna/s.journal"):
        resolve("s.yaml")
    assert resolve("postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"
    monkeypatch.setenv("RNNSTUDY_STORAGE", "optuna/s-quick.journal")
    assert resolve(None) == "optuna/s-quick.journal"
