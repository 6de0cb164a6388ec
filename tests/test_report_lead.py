"""The report's first screen: the tour's claim table, the horizon curves, the propagation
profiles and the reach scatter, built from a synthetic MLflow store (no training: every
number below is known in advance, so the table and the figures are checked against numpy)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rnnstudy import tracking
from rnnstudy.horizon import HORIZON_ACC, buckets, memory_horizon
from rnnstudy.reporting import claim
from rnnstudy.reporting import data as data_mod
from rnnstudy.reporting.build import build_report
from rnnstudy.reporting.figures import horizon as horizon_fig
from rnnstudy.reporting.figures import propagation as propagation_fig
from rnnstudy.reporting.figures import reach as reach_fig
from rnnstudy.reporting.store import open_store
from tools.browser import Browser

TASKS = {
    "copy": {"task.A": 8, "task.K": 3, "task.d_min": 4, "task.d_max": 40},
    "delayed_recall": {"task.A": 8, "task.d_min": 2, "task.d_max": 60},
    "qa_distance": {"task.n_keys": 8, "task.n_values": 8, "task.d_min": 2, "task.d_max": 50},
}
# the distance at which accuracy falls below 0.9, per (cell, seed); beyond d_max = capped
FALL = {"rnn": (12, 17, 12, 9, 17), "lstm": (99,) * 5, "gru": (99, 31, 99, 99, 45)}
SEEDS = range(5)
N_BUCKETS = 5
BASE = {"rnn": 500, "lstm": 60, "gru": 80}  # steps to each bucket: BASE x (bucket index + 1)
SLOPE = {"rnn": -0.4, "lstm": -0.1, "gru": -0.2}  # ln credit per step of distance


def accuracy(edges: list[int], fall: int) -> dict[int, float]:
    return {e: (0.97 if e <= fall else 0.3) for e in edges}


def make_store(root: Path, propagation: bool = True, lyapunov: bool = False) -> dict:
    """A tour-shaped experiment: 3 tasks x 3 cells x 5 seeds, metrics and artifacts only."""
    c = tracking.client()
    exp = tracking.experiment_id(c, "tour")
    parent = tracking.start_run(
        c, exp, "tour [full]", {"profile": "full"}, {"rnnstudy.kind": "experiment"}
    )
    truth: dict = {}
    for task, params in TASKS.items():
        d_min, d_max = params["task.d_min"], params["task.d_max"]
        edges = [hi for _, hi in buckets(d_min, d_max, N_BUCKETS)]
        for cell, falls in FALL.items():
            for seed, fall in enumerate(falls):
                acc = accuracy(edges, fall)
                h = memory_horizon(acc, edges)
                p = {"task.name": task, **params, "task.n_buckets": N_BUCKETS,
                     "model.cell": cell, "seed": seed, "task.D": "None"}  # fmt: skip
                tags = {"cell": cell, "task": task, "horizon_capped": str(h.capped).lower()}
                rid = tracking.start_run(c, exp, f"{cell} {task} {seed}", p, tags, parent)
                half = {"rnn": 3.0, "lstm": 40.0, "gru": 25.0}[cell] + seed
                metrics = {f"final/acc_by_distance/{e}": a for e, a in acc.items()}
                metrics["final/memory_horizon"] = float(h.value)
                metrics["final/learned_d_max"] = float(h.value)
                reached = {e: BASE[cell] * (i + 1) + 10 * seed for i, e in enumerate(edges)}
                reached = {e: st for e, st in reached.items() if e <= h.value}
                metrics.update({f"final/steps_to/{e}": float(st) for e, st in reached.items()})
                metrics["final/steps"] = 3000.0
                if lyapunov:
                    metrics["lyapunov/l0/l1"] = -math.log(2) / half
                if propagation and cell != "gru":  # some runs without the artifact
                    metrics["propagation/l0/decay_per_step"] = -math.log(2) / half
                    lags = np.arange(1, 30)
                    rho = np.stack([2.0 ** (-lags / half) * (1 + 0.1 * k) for k in range(3)])
                    folder = root / rid / "propagation"
                    folder.mkdir(parents=True)
                    np.savez(folder / "l0.npz", rho=rho, steps=[0, 50, 100], lags=lags)
                    tracking.log_artifacts(c, rid, root / rid)
                tracking.log_metrics(c, rid, metrics)
                growth = [(0, 0.0)] + [(st, float(e)) for e, st in reached.items()]
                pts = [("train/learned_d_max", value, step) for step, value in growth]
                for step, scale in ((0, 1.0), (100, 1.5)):
                    slope = SLOPE[cell] * scale
                    cr = {f"credit/l0/by_distance/{e}": math.exp(slope * e) for e in edges}
                    cr["credit/l0/decay_per_step"] = slope + 0.01 * seed
                    pts += [(k, v, step) for k, v in cr.items()]
                tracking.log_metrics(c, rid, pts)
                tracking.set_tags(c, rid, {"outcome": "unsolved"})
                c.set_terminated(rid, "FINISHED")
                truth[(task, cell, seed)] = (h, half, acc, reached)
    c.set_terminated(parent, "FINISHED")
    return truth


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """One synthetic store for the module (its own SQLite file and working directory)."""
    root = tmp_path_factory.mktemp("lead")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        mp.chdir(root)
        yield make_store(root / "art")


def brute_claim(truth: dict, task: str) -> tuple[int, float, float]:
    """d*, the RNN's and the fastest gated cell's median steps to it, by hand."""
    edges = sorted(truth[(task, "lstm", 0)][2])

    def steps(cell, d):
        return [truth[(task, cell, s)][3].get(d, math.inf) for s in SEEDS]

    def reached(cell, d):
        return sum(math.isfinite(x) for x in steps(cell, d)) * 2 > len(SEEDS)

    gated_reach = [d for d in edges if reached("lstm", d) or reached("gru", d)]
    both = [d for d in gated_reach if reached("rnn", d)]
    d_star = both[-1] if both else gated_reach[0]  # the RNN's median seed reached nothing
    gated = min(float(np.median(steps(g, d_star))) for g in ("lstm", "gru"))
    return d_star, float(np.median(steps("rnn", d_star))), gated


def test_claim_table_is_the_medians_and_the_verdict(tour):
    data = data_mod.load(open_store("tour"))
    table = claim.build(data)
    rows = {r["task"]: r for r in table.frame.to_dict("records")}
    assert set(rows) == set(TASKS)
    for task, params in TASKS.items():
        d_max = params["task.d_max"]
        for cell in FALL:
            values = [tour[(task, cell, s)][0].value for s in SEEDS]
            m = float(np.median(values))
            want = f"≥ {m:g}" if m >= d_max else f"{m:g}"
            assert rows[task][f"{cell} horizon"] == want, (task, cell)
        d_star, rnn, gated = brute_claim(tour, task)
        assert int(rows[task]["d*"]) == d_star
        assert float(rows[task]["rnn steps"]) == rnn and float(rows[task]["gated steps"]) == gated
        assert rows[task]["claim"].startswith("held: steps ratio rnn/lstm")  # 500+ vs 60+ steps
        assert rows[task]["seeds"] == "5/5/5"
        assert rows[task]["rnn credit decays faster (init)"].startswith("lstm: held")
    assert "≥ 40" in rows["copy"]["lstm horizon"]  # every lstm run is capped on copy


def test_horizon_curves_are_the_seed_medians(tour):
    data = data_mod.load(open_store("tour"))
    fig = horizon_fig.build(data)
    axes = [ax for ax in fig.fig.axes if ax.get_visible()]
    assert [ax.get_title().split(" (")[0] for ax in axes] == sorted(TASKS)
    for ax in axes:
        task = ax.get_title().split(" (")[0]
        curves = {
            ln.get_label().split(" · ")[0]: ln
            for ln in ax.get_lines()
            if not ln.get_label().startswith("_")
        }
        assert set(curves) == set(FALL)
        for cell, ln in curves.items():
            edges = sorted(tour[(task, cell, 0)][2])
            want = [np.median([tour[(task, cell, s)][2][e] for s in SEEDS]) for e in edges]
            assert list(ln.get_xdata()) == edges and np.allclose(ln.get_ydata(), want)
        d_max = TASKS[task]["task.d_max"]
        assert curves["lstm"].get_label() == f"lstm · horizon ≥ {d_max}"
        rnn = np.median([tour[(task, "rnn", s)][0].value for s in SEEDS])
        assert curves["rnn"].get_label() == f"rnn · horizon {rnn:g}"
        assert any(abs(line.get_ydata()[0] - HORIZON_ACC) < 1e-12 for line in ax.get_lines())


def test_propagation_profiles_and_scatter_use_what_exists(tour):
    data = data_mod.load(open_store("tour"))
    prof = propagation_fig.build(data)
    ax = prof.fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"rnn", "lstm"}  # gru runs have no artifact: left out
    lags = np.arange(1, 30)
    lives = [3.0 + s for s in SEEDS]  # the last probe's rho of the rnn seeds, in log10
    want = np.median([np.log10(2.0 ** (-lags / h) * 1.2) for h in lives], axis=0)
    assert np.allclose(lines["rnn"].get_ydata(), want)
    sc = reach_fig.build(data)
    assert sc.title == "Memory horizon against propagation decay rate"
    n_points = sum(len(col.get_offsets()) for col in sc.fig.axes[0].collections)
    assert n_points == 3 * 2 * 5  # rnn and lstm runs of the three tasks


def test_without_propagation_the_scatter_uses_lyapunov_and_no_profile(store, tmp_path):
    make_store(tmp_path / "art", propagation=False, lyapunov=True)
    data = data_mod.load(open_store("tour"))
    assert propagation_fig.build(data) is None
    sc = reach_fig.build(data)
    assert "λ₁" in sc.title
    assert sum(len(c.get_offsets()) for c in sc.fig.axes[0].collections) == 45


def test_first_screen_in_chromium_shows_claim_and_horizon_without_console_errors(tour, tmp_path):
    rep = build_report("tour", tmp_path / "reports")
    assert rep.figures[:5] == ["growth", "credit", "horizon", "propagation", "reach"]
    assert rep.tables[0] == "claim"
    with Browser(1600, 1000) as b:
        b.goto(rep.html.resolve().as_uri(), settle=1)
        top = b.eval(
            "[document.querySelector('#claim table').getBoundingClientRect().top,"
            " document.querySelector('#growth img').getBoundingClientRect().bottom,"
            " document.querySelector('#about').getBoundingClientRect().top,"
            " document.querySelector('#growth img').naturalWidth]"
        )
        text = b.eval("document.querySelector('#claim').innerText")
        console = list(b.console)
    claim_top, horizon_bottom, about_top, width = top
    assert 0 < claim_top < horizon_bottom <= 1000 < about_top, top  # both on the first screen
    assert width > 500  # the image decoded
    assert "≥ 40" in text and "held: steps ratio rnn/" in text
    assert console == [], console
    # the PDF: the title page, then the claim table, then the lead figures
    out = subprocess.run(
        ["pdftotext", "-layout", str(rep.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")
    assert "The claim per task" in out[1] and "held: steps ratio rnn/" in out[1]
    first_figure = next(i for i, page in enumerate(out) if "Horizon growth" in page)
    assert all("The claim per task" in page for page in out[1:first_figure])
