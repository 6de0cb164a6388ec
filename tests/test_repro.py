"""Reproductions (DESIGN §8): every file in experiments/repro/ runs its quick profile, carries a
setup card and records ``repro=<paper>`` in MLflow; the data formats the cards rely on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rnnstudy.cli import main
from rnnstudy.config import parse_run
from rnnstudy.experiment import expand, load_experiment
from rnnstudy.reporting import data as data_mod
from rnnstudy.reporting.build import lead_first
from rnnstudy.reporting.store import open_store
from rnnstudy.tasks import build_task
from tests.experiment_helpers import run_quick

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "experiments" / "repro").glob("*.yaml"))
CARD = ("SETUP CARD", "# Paper:", "# Theirs", "# Ours", "# Deviations", "# CPU time",
        "# Expected", "# Result", "# Verdict")  # fmt: skip


def test_there_are_repro_files() -> None:
    names = {p.stem for p in FILES}
    assert {"arjovsky2016_gradnorms", "arjovsky2016_copy", "pascanu2013", "bai2018"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_card_in_header(path: Path) -> None:
    header = path.read_text().split("\nname:")[0]
    for field in CARD:
        assert field in header, f"{path.name}: setup card has no {field!r}"
    exp = load_experiment(path)
    assert {"quick", "cpu", "full"} <= set(exp.profiles)
    assert exp.summary.tags["repro"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_quick_profile_records_repro_tag(path: Path, module_store: str) -> None:
    exp = load_experiment(path)
    _, parent, kids = run_quick(path, module_store, exp.name)
    assert parent.info.status == "FINISHED"
    assert len(kids) == len(expand(exp, "quick"))
    paper = exp.summary.tags["repro"]
    assert parent.data.tags.get("repro") == paper
    assert all(k.data.tags.get("repro") == paper for k in kids)
    # the report opens with ours beside the published figures
    tabs = lead_first(data_mod.load(open_store(exp.name, parent.info.run_id)))
    assert tabs[0].lead and tabs[0].title.startswith("Reproduction: ours beside the published")
    assert {"ours", "published", "source"} <= set(tabs[0].frame.columns)


def test_copy_bai_format() -> None:
    """Bai et al.'s generator (locuslab/TCN copy_memory/utils.py:15-21), by hand, K=3, T=4."""
    task = build_task(parse_run({"task": {"name": "copy_bai", "T": 4, "K": 3}}).task)
    b = task.generate(7, 50)
    assert b.x.shape == (50, 10, 1) and task.output_size == 10
    x = b.x[..., 0]
    digits = x[:, :3].long()
    assert digits.min() >= 1 and digits.max() <= 8
    assert torch.all(x[:, 3:6] == 0)  # T-1 = 3 zeros
    assert torch.all(x[:, 6:] == 9)  # the marker over the last K+1 = 4 inputs
    assert torch.all(b.y[:, :7] == 0) and torch.equal(b.y[:, 7:], digits)
    assert b.eval_mask[:, 7:].all() and not b.eval_mask[:, :7].any() and b.mask.all()
    assert torch.all(b.meta["source"] == 0)
    assert torch.equal(task.generate(7, 50).x, b.x)  # a pure function of the seed


def test_copy_bai_memoryless_baseline_is_bai_table1() -> None:
    cfg = parse_run({"task": {"name": "copy_bai", "T": 1000}}).task
    assert cfg.memoryless_loss == pytest.approx(10 * math.log(8) / 1020)
    assert round(cfg.memoryless_loss, 4) == 0.0204  # Bai et al. 2018 Table 1 baseline


def test_copy_bai_memoryless_predictor_reaches_its_baseline() -> None:
    """The predictor that sees only the current input (0 before the marker, uniform over the
    A digits on a marker step after the first) scores exactly ``K ln A / (T + 2K)``."""
    task = build_task(parse_run({"task": {"name": "copy_bai", "T": 6, "K": 3}}).task)
    b = task.generate(0, 200)
    x = b.x[..., 0]
    logp = torch.full((200, 12, 10), -1e9, dtype=torch.float64)
    logp[..., 0] = 0.0
    marker_before = torch.zeros_like(x, dtype=torch.bool)
    marker_before[:, 1:] = x[:, :-1] == 9  # the marker was also the previous input
    recall = (x == 9) & marker_before
    uniform = torch.full((10,), -1e9, dtype=torch.float64)
    uniform[1:9] = -math.log(8)  # the A = 8 digits
    logp[recall] = uniform
    nll = -logp.gather(2, b.y.unsqueeze(2)).squeeze(2)
    assert float(nll.mean()) == pytest.approx(task.chance_loss, rel=1e-12)


def test_adding_and_temporal_order_give_sources() -> None:
    add = build_task(parse_run({"task": {"name": "adding", "T": 30}}).task).generate(1, 64)
    pos = add.meta["positions"]
    assert torch.equal(add.meta["source"], pos[:, 0])
    marks = add.x[..., 1]
    first_mark = torch.argmax(marks, dim=1)  # argmax returns the first 1
    assert torch.equal(add.meta["source"], first_mark)
    to = build_task(parse_run({"task": {"name": "temporal_order", "L": 50}}).task).generate(2, 64)
    relevant = to.x[..., :2].sum(dim=2)  # A or B shown
    assert torch.equal(to.meta["source"], torch.argmax(relevant, dim=1))
    assert to.meta["source"].dtype == torch.long and to.meta["source"].shape == (64,)


# ---------------------------------------------------------------- the cards' read-out tools


def test_no_repro_module_imports_mlflow() -> None:
    """Only rnnstudy/tracking.py imports mlflow: the reproduction tools go through it."""
    import ast

    files = [
        *(ROOT / "experiments" / "repro").glob("*.py"),
        *(ROOT / "rnnstudy" / "repro").glob("*.py"),
    ]
    assert files
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "mlflow" for n in names), f"{f.name} imports mlflow"


def test_rate_per_100_and_their_figure() -> None:
    """The decay rate over the part of a curve a figure with a 10^-24 floor shows; their figure
    (as read) has the LSTM falling faster than the RNN at initialisation."""
    import numpy as np

    from rnnstudy.repro.gradnorms import published_rate, rate_per_100

    t = np.arange(1000)
    lg = -3.0 * (999 - t) / 100.0  # falls 3 orders per 100 steps back from t = 999
    rate, exit_t = rate_per_100(lg)
    assert rate == pytest.approx(3.0) and exit_t == 199  # -24 at t = 199, below it before
    flat = np.full(1000, -1.0)
    assert rate_per_100(flat) == (0.0, None)
    rnn, _ = published_rate("init", "rnn")
    lstm, lstm_exit = published_rate("init", "lstm")
    assert 1.0 < rnn < 1.7 and 3.5 < lstm < 4.5 and lstm_exit == 455


def test_copy_baseline_is_the_task_memoryless_loss() -> None:
    from rnnstudy.repro.copycurves import baseline

    for T in (100, 200):
        cfg = parse_run({"task": {"name": "copy", "A": 8, "K": 10, "T": T}}).task
        assert baseline(T) == pytest.approx(cfg.memoryless_loss)


def test_readout_tools_on_quick_runs(module_store: str, tmp_path: Path) -> None:
    """Each card's read-out tool reads the runs of its quick profile from MLflow."""
    from rnnstudy.repro import copycurves, gradnorms, pascanu

    for stem in ("arjovsky2016_gradnorms", "arjovsky2016_copy", "pascanu2013"):
        path = ROOT / "experiments" / "repro" / f"{stem}.yaml"
        assert main(["experiment", str(path), "--profile", "quick", "--no-progress",
                     "--no-report", "--jobs", "1"]) == 0  # fmt: skip
    _, profiles = gradnorms.load("arjovsky2016_gradnorms")
    assert {p.step for p in profiles} == {0, 2} and len(profiles[0].log10) == 20
    assert len(gradnorms.table(profiles)) == len(profiles) + 1
    gradnorms.figure(profiles, str(tmp_path / "g.png"))
    _, curves = copycurves.load("arjovsky2016_copy", "quick")
    assert curves and all(c.examples[-1] == 3 * c.batch for c in curves)
    copycurves.figure(curves, str(tmp_path / "c.png"))
    _, rs = pascanu.rows("pascanu2013", "quick")
    assert len(rs) == 2 and {r["clip"] for r in rs} == {"none", "norm:1"}
    assert any("finished runs solved" in line for line in pascanu.table(rs))
