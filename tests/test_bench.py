"""Smoke test of the benchmark script (``scripts/bench.py --quick``): it runs end to end and
writes its JSON and its BENCHMARKS.md section. No timing assertions: the figures of a tiny
run on a shared machine mean nothing."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("rnnstudy_bench", ROOT / "scripts" / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules[spec.name]


def test_quick_run_writes_json_and_markdown(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/unused.db")  # restored after
    monkeypatch.chdir(tmp_path)
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(
        f"# Benchmarks\n\nprose before\n\n{bench.BEGIN}\nold table\n{bench.END}\n\nprose after\n"
    )
    out = tmp_path / "latest.json"
    argv = ["--quick", "--memory", "none", "--json", str(out), "--markdown", str(md)]
    assert bench.main(argv) == 0

    res = json.loads(out.read_text())
    assert [(r["cell"], r["T"]) for r in res["rows"]] == [
        (c, T) for T in (10, 20) for c in ("rnn", "lstm", "gru")
    ]
    for row in res["rows"]:
        for clock in ("wall", "cpu"):
            t = row[clock]["seconds"]
            for mode in ("a", "b", "c", "d_plain", "d_probe", "b_plain"):
                assert math.isfinite(t[mode]) and t[mode] >= 0, (clock, mode, t)
            assert set(row[clock]["ratio"]) >= {"b/a", "c/a", "b/c", "probe/plain"}
        assert row["probes_per_run"] == 17  # steps 0, 1, 2, 4, ..., 64 and 100, 200, ..., 900
        assert row["metrics_per_step"] > 0  # GradNorms logged through the MLflow logger
    assert res["peak"]["mm2048"] > 0

    text = md.read_text()
    assert "prose before" in text and "prose after" in text and "old table" not in text
    assert text.count(bench.BEGIN) == 1 and "| cell | T | (a) plain | (b) rnnstudy |" in text
    assert "| lstm | 20 |" in text


def test_memory_phases_measure_something(bench, store):
    s = bench.Settings(cells=["gru"], lengths=[20], hidden=8, batch=4, threads=1)
    out = bench.memory_child(s, "gru", 20)
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
        assert torch.equal(a, b)
    ours, ref = gradtime.reduce_norms(grads), oracle_norms(model, x, loss_fn)
    assert set(ours) == set(ref)
    for key in ref:
        torch.testing.assert_close(ours[key], ref[key], rtol=1e-5, atol=1e-12)
