"""Smoke test of the benchmark package (``python -m benchmarks --quick``): it runs end to end
and writes its JSON and its BENCHMARKS.md section. No timing assertions: the figures of a tiny
run on a shared machine mean nothing."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.__main__ import main
from benchmarks.common import Settings
from benchmarks.memory import memory_child
from benchmarks.probe_cost import PARTS, part_kwargs
from benchmarks.report import BEGIN, END
from benchmarks.tour import probe_share, tour_points, with_steps
from rnnstudy.tasks import CORE_TASKS


def test_quick_run_writes_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/unused.db")  # restored after
    monkeypatch.chdir(tmp_path)
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# Benchmarks\n\nprose before\n\n{BEGIN}\nold table\n{END}\n\nprose after\n")
    out = tmp_path / "latest.json"
    argv = ["--quick", "--memory", "none", "--json", str(out), "--markdown", str(md)]
    assert main(argv) == 0

    res = json.loads(out.read_text())
    assert [(r["cell"], r["T"]) for r in res["rows"]] == [
        (c, T) for T in (10, 20) for c in ("rnn", "lstm", "gru")
    ]
    for row in res["rows"]:
        for clock in ("wall", "cpu"):
            t = row[clock]["seconds"]
            for mode in ("a", "b", "c", "d_plain", "d_grad", "d_probe", "b_plain"):
                assert math.isfinite(t[mode]) and t[mode] >= 0, (clock, mode, t)
            assert set(row[clock]["ratio"]) >= {"b/a", "c/a", "b/c", "probe/plain", "grad/plain"}
        assert row["probes_per_run"] == 17  # steps 0, 1, 2, 4, ..., 64 and 100, 200, ..., 900
        assert row["metrics_per_step"] > 0  # GradNorms logged through the MLflow logger
        if row["T"] == 20:  # the longest: one probe's parts, each against a plain step
            parts = row["probe_parts"]["cpu"]
            assert set(parts["x_plain"]) == set(PARTS)
            assert all(math.isfinite(v) and v > 0 for v in parts["seconds"].values())
        else:
            assert "probe_parts" not in row
    assert res["peak"]["mm2048"] > 0
    assert [(r["task"], r["cell"]) for r in res["tour"]] == [
        ("copy", "rnn"),
        ("delayed_recall", "rnn"),
        ("qa_distance", "rnn"),
    ]
    for row in res["tour"]:
        assert row["L"] > 20 and row["probes_per_run"] > 0
        for clock in ("wall", "cpu"):
            assert all(math.isfinite(v) and v > 0 for v in row[clock]["ratio"].values())
    assert res["end_to_end"] is None  # not in a quick run
    floor = res["lightning_floor"]
    assert 0 < floor["plain"] < floor["lightning"] and floor["steps"] == 200

    text = md.read_text()
    assert "prose before" in text and "prose after" in text and "old table" not in text
    assert text.count(BEGIN) == 1 and "| cell | T | (a) plain | (b) rnnstudy |" in text
    assert "| lstm | 20 |" in text and "| qa_distance | rnn |" in text
    assert "(d) one probe step / one plain step, full probe, lstm T=20" in text
    assert "Lightning's own loop (`benchmarks/floor.py`" in text


def test_tour_points_follow_the_tour_file():
    """Every tour task once per cell asked for (seed 0), at the tour's sizes; a cut-down copy
    keeps the sizes, drops validation until the end, and switches the instruments."""
    points = tour_points(["lstm", "gru"])
    assert [(label, c.model.cell) for label, c in points] == [
        (t, cell)
        for cell in ("lstm", "gru")
        for t in CORE_TASKS  # the tour: the core tasks
    ]
    for _, cfg in points:
        assert cfg.seed == 0 and cfg.model.hidden_size == 64 and cfg.train.batch_size == 64
        cut = with_steps(cfg, 7, False)
        assert cut.train.max_steps == 7 and not cut.probe.enabled
        assert cut.train.val_every > 7 and cut.task == cfg.task and cut.optim == cfg.optim


def test_probe_share_counts_the_default_schedule():
    # every 100 steps and at 1, 2, 4, ..., 64: 0, 1, 2, 4, 8, 16, 32, 64, 100, 200, ..., 900
    cfg = with_steps(tour_points(["lstm"])[0][1], 1000, True)
    assert probe_share(cfg) == (17, 0.017)
    assert probe_share(with_steps(cfg, 150, True)) == (9, 9 / 150)


def test_probe_parts_switch_one_instrument_each():
    cfg = tour_points(["lstm"])[0][1]
    S, k = cfg.probe.sources, cfg.probe.lyapunov
    assert S > 0 and k > 0  # the default probe has both
    assert part_kwargs(cfg, "propagation") == {"gradients": False, "sources": S, "lyapunov": 0}
    assert part_kwargs(cfg, "lyapunov") == {"gradients": False, "sources": 0, "lyapunov": k}
    assert part_kwargs(cfg, "full") == {"gradients": True, "sources": S, "lyapunov": k}


def test_memory_phases_measure_something(store):
    s = Settings(cells=["gru"], lengths=[20], hidden=8, batch=4, threads=1)
    out = memory_child(s, "gru", 20)
    assert set(out) == {"a", "b", "c"}
    for phase in out.values():
        assert phase["before"] > 0 and phase["peak"] >= 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_probe_across_chunk_boundaries_equals_oracle(cell, monkeypatch):
    """Guards the speed/memory work the benchmark measures: the probe builds the vanilla RNN's
    and the GRU's Jacobian coefficients CHUNK time steps at a time. With a tiny CHUNK every
    boundary is crossed; the result must still equal the unrolled-autograd oracle, and the
    captured tensors (a fused batch_first output is a transposed time-major tensor, so a
    careless ``.contiguous()`` is a view of it) must be left untouched."""
    import torch

    from rnnstudy.config import ModelConfig
    from rnnstudy.instruments import gradtime
    from rnnstudy.models import RecurrentNet
    from tests.oracle import oracle_norms

    monkeypatch.setattr(gradtime, "CHUNK", 3)
    torch.manual_seed(0)
    model = RecurrentNet(ModelConfig(cell=cell, hidden_size=6, num_layers=2), 4, 3, "per_step")
    model = model.double()
    x = torch.randn(3, 13, 4, dtype=torch.float64)
    w = torch.randn(3, 13, 3, dtype=torch.float64)

    def loss_fn(out):
        return (torch.tanh(out) * w).sum()

    fwd = model(x)
    for h in fwd.layers:
        h.retain_grad()
    loss_fn(fwd.out).backward()
    captured = fwd.inputs + fwd.layers + [h.grad for h in fwd.layers]
    before = [t.detach().clone() for t in captured]
    grads = gradtime.layer_grads(model, fwd.inputs, fwd.layers, [h.grad for h in fwd.layers])
    for a, b in zip(before, captured, strict=True):
        assert torch.equal(a, b)  # exact: a clone of the same tensor, which must not be written
    ours, ref = gradtime.reduce_norms(grads), oracle_norms(model, x, loss_fn)
    assert set(ours) == set(ref)
    for key in ref:
        torch.testing.assert_close(ours[key], ref[key], rtol=1e-5, atol=1e-12)
