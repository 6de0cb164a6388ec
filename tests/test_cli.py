"""The command line end to end on a real SQLite MLflow store (issue: core harness)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from rnnstudy import tracking
from rnnstudy.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "experiments" / "tour.yaml"


def _runs(uri, name):
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(name)
    return [] if exp is None else c.search_runs([exp.experiment_id], max_results=1000)


def test_unknown_cell_exits_2_with_one_line_and_no_run(store, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rnnstudy.cli", "run", str(TOUR), "--set", "model.cell=transformer"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln]
    assert len(lines) == 1, proc.stderr
    assert "model.cell" in lines[0] and "'rnn', 'lstm' or 'gru'" in lines[0]
    assert _runs(store, "tour") == []


@pytest.mark.parametrize(
    "sets,needle",
    [
        (["task.name=sorting"], "task.name: unknown task"),
        (["model.hidden_size=-4"], "model.hidden_size"),
        (["train.batch_size=zero"], "train.batch_size"),
        (["model.colour=red"], "model.colour: unknown field"),
    ],
)
def test_bad_input_exits_2(store, capsys, sets, needle):
    args = ["experiment", str(TOUR), "--profile", "quick"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert _runs(store, "tour") == []


def test_alphabet_too_small(store, tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"name": "bad", "base": {"task": {"name": "copy", "A": 1}}}))
    assert main(["run", str(f)]) == 2
    assert "task.A" in capsys.readouterr().err
    assert _runs(store, "bad") == []


def test_diverged_point_recorded_and_experiment_goes_on(store, tmp_path):
    f = tmp_path / "div.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "name": "div",
                "base": {
                    "task": {"name": "copy", "A": 4, "K": 3, "T": 40},
                    "model": {"cell": "rnn", "nonlinearity": "relu", "hidden_size": 16},
                    "optim": {"name": "sgd", "lr": 1.0},
                    "clip": {"mode": "none"},
                    "train": {"max_steps": 12, "batch_size": 8, "val_every": 6, "val_size": 16},
                    "probe": {"every": 4},
                },
                "grid": {"model.recurrent_gain": [3.0, 0.9]},
            }
        )
    )
    assert main(["experiment", str(f), "--jobs", "1", "--no-progress", "--no-report"]) == 0
    runs = _runs(store, "div")
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    by_gain = {r.data.params["model.recurrent_gain"]: r for r in children}
    assert by_gain["3.0"].data.tags["outcome"] == "diverged"
    assert by_gain["3.0"].info.status == "FINISHED"
    assert "diverged_reason" in by_gain["3.0"].data.tags
    assert by_gain["0.9"].data.tags["outcome"] in ("solved", "unsolved")
    assert "final/acc" in by_gain["0.9"].data.metrics


def test_tour_quick_records_the_contract(store):
    assert main(["experiment", str(TOUR), "--profile", "quick", "--jobs", "1", "--no-report"]) == 0
    runs = _runs(store, "tour")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 9
    pid = parents[0].info.run_id
    c = MlflowClient(store)
    assert {a.path for a in c.list_artifacts(pid)} >= {"summary.csv"}
    cells_tasks = set()
    for r in children:
        assert r.data.tags["mlflow.parentRunId"] == pid
        p, m, t = r.data.params, r.data.metrics, r.data.tags
        cells_tasks.add((p["model.cell"], p["task.name"]))
        assert "seed" in p and "clip.mode" in p and "optim.lr" in p
        assert t["outcome"] in ("solved", "unsolved", "diverged")
        assert {"cell", "task", "clip", "mlflow.source.git.commit"} <= set(t)
        assert "val/acc" in m and "train/loss" in m
        for k in (
            "grad/norm_preclip",
            "grad/norm_postclip",
            "grad/clipped",
            "grad/clip_rate",
            "gradtime/l0/first",
            "gradtime/l0/last",
            "gradtime/l0/log10_ratio",
            "gradtime/l0/half_life",
            "spectral/weight_hh_l0/sigma_max",
        ):
            assert k in m, k
        assert any(k.startswith("grad/param/weight_hh_l0") for k in m)
        arts = {a.path for a in c.list_artifacts(r.info.run_id)}
        assert "config.yaml" in arts and "gradtime" in arts
        files = {a.path for a in c.list_artifacts(r.info.run_id, "gradtime")}
        assert "gradtime/l0.npz" in files
        if p["model.cell"] == "lstm":
            assert "gradtime/l0_c.npz" in files
        local = c.download_artifacts(r.info.run_id, "gradtime/l0.npz")
        z = np.load(local)
        assert z["norms"].ndim == 2 and z["norms"].shape[0] == len(z["steps"])
        assert z["norms"].shape[1] == int(m["final/steps"] > 0) * z["norms"].shape[1]
        if p["task.name"] == "qa_distance":
            assert "val/memory_horizon" in m
            assert any(k.startswith("val/acc_by_distance/") for k in m)
        hist = c.get_metric_history(r.info.run_id, "grad/norm_preclip")
        assert len(hist) == 30  # every training step
    assert len(cells_tasks) == 9


def _two_point_file(tmp_path: Path, name: str) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "base": {
                    "task": {"name": "copy", "A": 4, "K": 2, "T": 4},
                    "model": {"cell": "gru", "hidden_size": 4},
                    "train": {"max_steps": 2, "batch_size": 4, "val_every": 2, "val_size": 8},
                    "probe": {"every": 2},
                },
                "grid": {"seed": [0, 1]},
                "profiles": {"full": {}, "quick": {"train.max_steps": 1, "grid": {"seed": [0]}}},
            }
        )
    )
    return f


def test_defect7_report_is_built_for_its_own_invocation(store, tmp_path, capsys):
    """After a newer parent run (a quick invocation) in the same experiment, resuming the
    first invocation reports the first, not the latest parent by start time."""
    f = _two_point_file(tmp_path, "inv")
    common = ["--no-progress", "--jobs", "1"]
    assert main(["experiment", str(f), *common, "--no-report"]) == 0
    assert main(["experiment", str(f), "--profile", "quick", *common, "--no-report"]) == 0
    parents = {
        r.data.tags["profile"]: r.info.run_id
        for r in _runs(store, "inv")
        if "mlflow.parentRunId" not in r.data.tags
    }
    first, second = parents["full"], parents["quick"]
    capsys.readouterr()
    assert main(["experiment", str(f), "--resume-from", first, *common]) == 0
    assert "report inv: 2 runs" in capsys.readouterr().out
    html = (tmp_path / "reports" / "inv" / "index.html").read_text()
    assert first in html and second not in html


def test_parent_run_never_left_running_when_the_grid_raises(store, monkeypatch):
    """A child killed by SIGTERM (Lightning re-raises it in the parent process with --jobs 1)
    once left the parent run RUNNING: the parent must end KILLED, and FAILED for any other
    error, with the error as a tag."""
    from rnnstudy import commands

    class SIGTERMException(SystemExit):  # what Lightning raises on SIGTERM
        pass

    for exc, status in ((SIGTERMException(), "KILLED"), (RuntimeError("boom"), "FAILED")):

        def boom(*args, _exc=exc, **kwargs):
            raise _exc

        monkeypatch.setattr(commands, "run_points", boom)
        with pytest.raises(type(exc)):
            main(["experiment", str(TOUR), "--profile", "quick", "--jobs", "1",
                  "--no-progress", "--no-report"])  # fmt: skip
        c = MlflowClient(store)
        eid = c.get_experiment_by_name("tour").experiment_id
        parent = c.search_runs([eid], "tags.`rnnstudy.kind` = 'experiment'")[0]
        assert parent.info.status == status
        assert parent.data.tags["error"]


URL = re.compile(r"https?://[^\s<>\"']+")


def test_issue21_item8_every_printed_link_opens_the_training_view(
    store, tmp_path, capsys, monkeypatch
):
    """Every MLflow link the harness prints (``run``, ``experiment``'s parent run, ``ui``) or
    writes (the report) carries ``?workflowType=machine_learning``: without it MLflow 3.17
    opens its GenAI pages. All of them are made by ``tracking.ui_url``."""
    f = _two_point_file(tmp_path, "links")
    assert main(["run", str(f), "--no-progress"]) == 0
    (run,) = _runs(store, "links")
    out = capsys.readouterr().out
    urls = URL.findall(out)
    assert any(run.info.run_id in u for u in urls), out
    common = ["--profile", "quick", "--no-progress", "--jobs", "1"]
    assert main(["experiment", str(f), *common]) == 0
    out = capsys.readouterr().out
    assert "report links: 1 runs" in out and "report not built" not in out, out
    (parent,) = [r for r in _runs(store, "links") if r.data.tags.get("rnnstudy.kind")]
    printed = URL.findall(out)
    assert sum(parent.info.run_id in u for u in printed) >= 1, out
    urls += printed
    html = (tmp_path / "reports" / "links" / "index.html").read_text()
    written = URL.findall(html)
    assert any(parent.info.run_id in u for u in written), written
    urls += written
    from rnnstudy import cli

    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, **kw: 0)
    assert main(["ui", "--port", "5123"]) == 0
    ui = URL.findall(capsys.readouterr().out)
    assert ui and ui[0].startswith("http://127.0.0.1:5123/#/experiments")
    urls += ui
    for u in urls:
        assert "workflowType=machine_learning" in u, u
    exp_id = parent.info.experiment_id
    assert f"/#/experiments/{exp_id}/runs/{parent.info.run_id}?workflowType=" in " ".join(urls)
    # no other module builds an MLflow UI address (a ``#/`` route): one helper, tracking.ui_url
    # (defined in tracking_links.py, tracking's part for UI links)
    pkg = Path(tracking.__file__).parent
    builders = [
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if p.name != "tracking_links.py" and "#/" in p.read_text()
    ]
    assert builders == [], builders
