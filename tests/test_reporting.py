"""``rnnstudy report``: a tiny real experiment -> self-contained HTML + PDF, checked for real.

    .venv/bin/pytest -q tests/test_reporting.py          (~30-50 s; needs chromium, poppler-utils)

The browser and rasteriser checks need Debian's ``chromium`` and ``poppler-utils`` (``make test``
installs them as root: ``scripts/setup.sh system``); without them those tests fail with the
install command (never skip). The test may import training code (it trains the tiny
experiment); the reporting package itself must not, which one test checks in a subprocess.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from rnnstudy import tracking
from rnnstudy.config import parse_run
from rnnstudy.reporting import history
from rnnstudy.reporting.build import build_report
from rnnstudy.reporting.cli import experiment_name
from rnnstudy.reporting.facts import baseline
from rnnstudy.reporting.figures.ablation import wilson
from rnnstudy.reporting.pdf import column_groups, table_pages
from rnnstudy.reporting.store import open_store
from tools.browser import Browser

PNG = b"\x89PNG\r\n\x1a\n"
EXPECTED_FIGURES = [
    "credit",  # growth: not here (no distance schedule in these runs)
    "horizon",
    "propagation",
    "reach",
    "learning-curves",
    "clip-ablation",
    "vanishing",
    "heatmap",
    "clipping",
    "spectrum",
]
TRAINING_MODULES = ["torch", "pytorch_lightning", "lightning", "rnnstudy.runner", "rnnstudy.module"]


def tiny_config(cell: str, clip: dict, seed: int):
    return parse_run(
        {
            "name": f"model.cell={cell} clip={clip['mode']} seed={seed}",
            "seed": seed,
            "task": {
                "name": "qa_distance",
                "n_keys": 4,
                "n_values": 4,
                "d_min": 2,
                "d_max": 8,
                "n_buckets": 3,
            },
            "model": {"cell": cell, "hidden_size": 8},
            "clip": clip,
            "train": {"max_steps": 12, "batch_size": 8, "val_every": 6, "val_size": 32},
            "probe": {"every": 4},
        }
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real 8-run experiment (rnn/gru x clip none/norm x 2 seeds) in its own SQLite store."""
    from rnnstudy.runner import run_one  # training code: fine in the test, never in reporting

    root = tmp_path_factory.mktemp("report")
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)
        c = tracking.client()
        exp_id = tracking.experiment_id(c, "tiny")
        (root / "tiny.yaml").write_text("name: tiny\nbase: {}\n")
        parent = tracking.start_run(
            c,
            exp_id,
            "tiny [quick]",
            {"file": "experiments/tiny.yaml", "profile": "quick"},
            {"rnnstudy.kind": "experiment", "profile": "quick"},
        )
        for cell in ("rnn", "gru"):
            for clip in ({"mode": "none"}, {"mode": "norm", "value": 1.0}):
                for seed in (0, 1):
                    run_one(
                        tiny_config(cell, clip, seed),
                        experiment="tiny",
                        parent_id=parent,
                        progress=False,
                    )
        summary = root / "summary.csv"
        summary.write_text("config,ours,published (Bai 2018)\nlstm,0.02,0.0204\n")
        c.log_artifact(parent, str(summary))
        c.set_terminated(parent, "FINISHED")
        rep = build_report("tiny", root / "reports")
        yield {"root": root, "uri": uri, "report": rep, "parent": parent}


class Page(HTMLParser):
    """Collects <img> sources, <svg> count, every href/src, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.urls: list[str] = []
        self.svgs = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "svg":
            self.svgs += 1
        self.urls += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_is_self_contained_and_every_image_decodes(tiny):
    rep = tiny["report"]
    assert rep.problems == []
    assert rep.figures == EXPECTED_FIGURES
    page = Page()
    page.feed(rep.html.read_text(encoding="utf-8"))
    page.close()
    assert len(page.imgs) == len(rep.figures)
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,"), src[:40]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw.startswith(PNG)
    from PIL import Image  # pillow comes with matplotlib

    with Image.open(io.BytesIO(raw)) as im:
        assert im.width > 300 and im.height > 150
    external = [u for u in page.urls if not u.startswith(("data:", "#"))]
    assert external == [], external
    text = " ".join("".join(page.text).split())
    for must in (
        "tiny",
        "Reproduce",
        "rnnstudy experiment experiments/tiny.yaml --profile quick",
        "Outcomes per configuration",
        "summary.csv",
        "published (Bai 2018)",
        "git commit",
    ):
        assert must in text, must
    for fig_title in ("Learning curves", "Gradient through time", "accuracy against distance"):
        assert fig_title in text


def count_pdf_pages(path: Path) -> int:
    try:
        from pypdf import PdfReader
    except ImportError:
        return len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes()))
    return len(PdfReader(path).pages)


def test_report_is_an_artifact_of_the_parent_it_reports(tiny):
    c = tracking.client(tiny["uri"])
    files = tracking.list_artifacts(c, tiny["parent"], "report")
    assert sorted(files) == ["report/index.html", "report/report.pdf"]
    logged = tracking.read_artifact_bytes(c, tiny["parent"], "report/index.html")
    assert logged == tiny["report"].html.read_bytes()
    exp = tracking.find_experiment(c, "tiny")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_pdf_has_title_figure_and_table_pages(tiny):
    rep = tiny["report"]
    pages = count_pdf_pages(rep.pdf)
    assert pages == rep.pdf_pages
    # title + one per figure + per-config, summary.csv and per-run tables (8 runs: 1 page each)
    assert pages == 1 + len(EXPECTED_FIGURES) + 3
    assert rep.tables == ["per-config", "summary", "per-run"]


def test_unknown_experiment_is_one_line_and_exit_code_2(tiny, capsys, monkeypatch):
    from rnnstudy.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny["uri"])
    monkeypatch.chdir(tiny["root"])
    assert main(["report", "no-such-experiment", "--out", str(tiny["root"] / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no MLflow experiment named 'no-such-experiment'" in err[0]
    assert "tiny" in err[0]  # the known experiments are listed
    assert main(["report", "missing.yaml"]) == 2
    assert "no such experiment file" in capsys.readouterr().err


def test_cli_on_the_yaml_file_never_imports_training_code(tiny):
    """``rnnstudy report FILE.yaml`` (as ``make experiment`` calls it) in a fresh process: the
    file's ``name:`` is used, and torch / Lightning / the runner are never imported."""
    out_dir = tiny["root"] / "cli-out"
    code = (
        "import argparse, sys, json\n"
        "from rnnstudy.reporting.cli import add_report_parser, report_command\n"
        "ap = argparse.ArgumentParser()\n"
        "add_report_parser(ap.add_subparsers(dest='cmd'))\n"
        f"args = ap.parse_args(['report', 'tiny.yaml', '--out', {str(out_dir)!r}])\n"
        "assert report_command(args) == 0\n"
        f"print(json.dumps([m for m in {TRAINING_MODULES!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tiny["uri"], "MPLBACKEND": "agg"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tiny["root"],
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert (out_dir / "tiny" / "index.html").is_file() and (
        out_dir / "tiny" / "report.pdf"
    ).is_file()


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: apt-get install {package} (make test does, as root)")
    return path


def test_headless_chromium_loads_the_page_without_console_errors(tiny):
    need("chromium", "chromium")
    with Browser(1600, 1000) as b:  # Playwright on the system Chromium (tools/browser.py)
        b.goto(tiny["report"].html.resolve().as_uri(), settle=1)
        dom = b.content()
        console = list(b.console)
    assert "<title>tiny — rnnstudy report</title>" in dom
    assert dom.count('src="data:image/png;base64,') == len(EXPECTED_FIGURES)
    assert console == [], console


def test_pdftoppm_rasterises_every_page(tiny, tmp_path):
    pdftoppm = need("pdftoppm", "poppler-utils")
    rep = tiny["report"]
    subprocess.run(
        [pdftoppm, "-png", "-r", "20", str(rep.pdf), str(tmp_path / "p")], check=True, timeout=120
    )
    assert len(list(tmp_path.glob("p-*.png"))) == rep.pdf_pages


def test_bulk_history_matches_mlflow_per_metric_history(tiny):
    store = open_store("tiny", uri=tiny["uri"])
    ids = list(store.children["run_id"])
    keys = [c[8:] for c in store.children.columns if c.startswith("metrics.")]
    fast = history.fetch(store.client, tiny["uri"], ids, keys)
    slow = history._tidy(history._per_key(store.client, ids, sorted(filter(history.wanted, keys))))
    assert len(fast) > 100 and set(fast["key"]) >= {"train/loss", "val/acc", "grad/clip_rate"}
    cols = ["run_id", "key", "step"]
    a, b = (
        fast.sort_values(cols).reset_index(drop=True),
        slow.sort_values(cols).reset_index(drop=True),
    )
    assert a[cols].equals(b[cols])
    assert (a["value"] - b["value"]).abs().max() < 1e-9


def test_sweep_parent_gets_history_importances_and_parallel_coordinates(
    tiny, tmp_path, monkeypatch
):
    """A sweep parent written directly (no training): the three sweep figures appear."""
    from mlflow.entities import Metric, Param

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny["uri"])  # another experiment, same store
    monkeypatch.chdir(tiny["root"])
    c = tracking.client()
    exp = tracking.experiment_id(c, "sw")
    space = {
        "optim.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
        "model.hidden_size": {"type": "int", "low": 16, "high": 64, "step": 16},
    }
    parent = tracking.start_run(
        c,
        exp,
        "sweep sw",
        {
            "file": "experiments/sw.yaml",
            "metric": "val/acc",
            "direction": "maximize",
            **{f"space.{k}": json.dumps(v) for k, v in space.items()},
        },
        {"rnnstudy.kind": "sweep"},
    )
    for n in range(6):
        lr, hs = 1e-3 * (2**n), 16 * (1 + n % 4)
        value = 0.2 + 0.1 * n
        rid = tracking.start_run(
            c,
            exp,
            f"trial {n}",
            {
                "model.cell": "lstm",
                "task.name": "copy",
                "task.A": 8,
                "task.K": 5,
                "task.T": 20,
                "seed": 0,
                "optim.lr": lr,
                "model.hidden_size": hs,
            },
            {
                "cell": "lstm",
                "task": "copy",
                "clip": "norm:1",
                "outcome": "unsolved",
                "rnnstudy.kind": "trial",
                "optuna_trial_number": n,
                "optuna_state": "COMPLETE" if n != 3 else "PRUNED",
                **({"optuna_value": f"{value:.6g}"} if n != 3 else {}),
            },
            parent,
        )
        c.log_batch(
            rid,
            metrics=[Metric("val/acc", value * s / 4, 0, s) for s in range(5)]
            + [Metric("train/loss", 2 - s / 10, 0, s) for s in range(20)],
        )
        c.log_batch(rid, params=[Param("clip.mode", "norm")])
        c.set_terminated(rid)
    (tmp_path / "importances.csv").write_text(
        "param,fanova,ped_anova\noptim.lr,0.7,0.6\nmodel.hidden_size,0.3,0.4\n"
    )
    c.log_artifact(parent, str(tmp_path / "importances.csv"))
    c.set_terminated(parent)
    rep = build_report("sw", tmp_path / "reports")
    assert rep.problems == []
    assert rep.figures[:3] == ["sweep-history", "sweep-importance", "sweep-parallel"]
    assert "learning-curves" in rep.figures and "clip-ablation" not in rep.figures
    assert "importances" in rep.tables and "per-config" not in rep.tables
    page = Page()
    page.feed(rep.html.read_text())
    text = " ".join("".join(page.text).split())
    assert "make sweep EXP=experiments/sw.yaml" in text
    assert "rnnstudy sweep experiments/sw.yaml" in text


def test_report_without_any_finished_run_still_builds(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny["uri"])
    monkeypatch.chdir(tiny["root"])
    c = tracking.client()
    exp = tracking.experiment_id(c, "empty")
    tracking.start_run(c, exp, "empty", {"file": "e.yaml"}, {"rnnstudy.kind": "experiment"})
    rep = build_report("empty", tmp_path / "r")
    assert rep.figures == [] and rep.pdf_pages == 1
    assert "no finished child runs" in rep.html.read_text()


# ---------------------------------------------------------------- small pure pieces


def test_chance_levels_follow_the_design_table():
    copy = baseline({"task.name": "copy", "task.A": "8", "task.K": "10", "task.T": "1000"})
    assert copy.metric_value == 1 / 8 and copy.loss == pytest.approx(0.0204, abs=1e-4)
    assert baseline({"task.name": "qa_distance", "task.n_values": "5"}).metric_value == 0.2
    assert baseline({"task.name": "copy", "task.A": "1"}).metric_value is None  # invalid config
    assert baseline({"task.name": "temporal_order"}).metric_value == 0.25
    assert baseline({"task.name": "adding"}).metric == "val/mse"
    from rnnstudy.config import HELLO_TEXT

    charlm = baseline({"task.name": "charlm"})  # built-in text: uniform over its characters
    assert charlm.metric == "val/bpc" and charlm.metric_value == np.log2(len(set(HELLO_TEXT)))
    assert baseline({"task.name": "charlm", "task.path": "/nonexistent.txt"}).loss is None


def test_wilson_interval_is_sane_at_the_edges():
    lo, hi = wilson(0, 3)
    assert lo == 0 and 0.4 < hi < 0.6
    lo, hi = wilson(3, 3)
    assert hi == 1 and 0.4 < lo < 0.6


def test_wide_tables_split_by_columns_and_long_ones_by_rows():
    import pandas as pd

    from rnnstudy.reporting.tables import Table

    wide = pd.DataFrame({f"column {i}": ["x" * 30] for i in range(12)})
    groups = column_groups(wide)
    assert len(groups) > 1 and all(g[0] == "column 0" for g in groups)
    long = Table("t", "t", "", pd.DataFrame({"a": range(60)}))
    assert table_pages(long) == 3


def test_experiment_name_reads_the_yaml_name(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("name: clip_ablation\nbase: {}\n")
    assert experiment_name(str(f)) == "clip_ablation"
    assert experiment_name("tour") == "tour"
    with pytest.raises(ValueError):
        experiment_name(str(tmp_path / "missing.yaml"))
