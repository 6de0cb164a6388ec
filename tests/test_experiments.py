"""Every experiment file in experiments/ runs end to end in its quick profile, so none can rot.

    .venv/bin/pytest -q tests/test_experiments.py

For each file: ``rnnstudy experiment FILE --profile quick`` (a file with a ``sweep:`` section is
run the same way: its base/grid, not the sweep) must exit 0, record one FINISHED child run per
grid point under a FINISHED parent, each with a distinct ``config_hash``, and put the summary
(``summary.csv``, ``points.csv``, headline metrics) on the parent. Also: every file has ``full``
and ``quick`` profiles and no profile means ``full``; the study summaries' small pure parts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnstudy.experiment import Published, expand, load_experiment
from rnnstudy.labels import metric_label, value_label
from rnnstudy.resume import config_hash
from rnnstudy.studies import STUDIES
from rnnstudy.studies.gradprofile import reach
from rnnstudy.studies.reproduction import find_entry
from tests.experiment_helpers import run_quick

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "experiments").glob("*.yaml"))


def test_there_are_experiment_files() -> None:
    # every study kind but the default one has an experiment file that uses it
    kinds = {load_experiment(p).summary.kind for p in FILES}
    kinds |= {
        load_experiment(p).summary.kind for p in (ROOT / "experiments" / "repro").glob("*.yaml")
    }
    assert set(STUDIES) - {"default"} <= kinds
    # the reproductions live in experiments/repro/ and run in tests/test_repro.py
    assert {p.stem for p in (ROOT / "experiments" / "repro").glob("*.yaml")} >= {
        "pascanu2013",
        "bai2018",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_profiles(path: Path) -> None:
    exp = load_experiment(path)
    assert "quick" in exp.profiles, f"{path.name}: no quick profile"
    assert "full" in exp.profiles, f"{path.name}: no full profile"
    as_written = [config_hash(p.config) for p in expand(exp)]
    assert [config_hash(p.config) for p in expand(exp, "full")] == as_written


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_quick_profile_end_to_end(path: Path, module_store: str) -> None:
    exp = load_experiment(path)
    points = expand(exp, "quick")
    c, parent, kids = run_quick(path, module_store, exp.name)
    assert parent.info.status == "FINISHED"
    assert len(kids) == len(points)
    assert all(k.info.status == "FINISHED" for k in kids)
    assert {k.data.tags["config_hash"] for k in kids} == {config_hash(p.config) for p in points}
    assert all(k.data.tags["outcome"] in ("solved", "unsolved", "diverged") for k in kids)
    arts = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert {"summary.csv", "points.csv", "summary.md", "summary.txt"} <= arts
    assert parent.data.metrics["summary/runs"] == len(points)
    assert any(k.count("/") == 2 for k in parent.data.metrics)  # summary/<config>/<stat>


def test_labels() -> None:
    clips = [{"mode": "none"}, {"mode": "norm", "value": 0.25}, {"mode": "value", "value": 1.0}]
    want = ["clip=none", "clip=norm:0.25", "clip=value:1"]
    assert [value_label("clip", v, clips) for v in clips] == want
    tasks = [{"name": "adding", "T": 200}, {"name": "adding", "T": 600}, {"name": "copy", "T": 9}]
    assert [value_label("task", v, tasks) for v in tasks] == [
        "adding T=200",
        "adding T=600",
        "copy",
    ]
    assert value_label("train.tbptt", None, [None, 5]) == "tbptt=full"
    assert value_label("model.hidden_size", 64, [32, 64]) == "hidden_size=64"
    assert value_label("cases", {"label": "copy-lstm", "model.cell": "lstm"}, []) == "copy-lstm"
    assert metric_label("rnn · clip=norm:0.25 · tbptt=5") == "rnn_clip-norm0.25_tbptt-5"


def test_reach_and_published_match() -> None:
    assert reach([0.0, 0.0, 0.0, 0.2, 1.0]) == 1  # TBPTT cut: nothing beyond the window
    assert reach([0.5, 0.6, 0.8, 1.0]) == 3
    entries = [
        Published(
            match={"task.name": "copy", "model.cell": "gru"}, metric="final/loss", value=0.0197
        ),
        Published(match={"task.name": "copy"}, metric="final/loss"),
    ]
    assert find_entry({"task.name": "copy", "model.cell": "gru"}, entries).value == 0.0197
    assert find_entry({"task.name": "copy", "model.cell": "rnn"}, entries).value is None
    assert find_entry({"task.name": "adding"}, entries) is None
