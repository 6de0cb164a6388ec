"""Credit at the source by distance (DESIGN §4) against per-example autograd on an unrolled
float64 loop: rnn / lstm / gru, 1 and 2 layers, on real core-task batches (their ``source`` and
``distance`` metadata)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnstudy import config
from rnnstudy.instruments import credit
from rnnstudy.instruments.gradtime import example_norms, layer_grads
from rnnstudy.models import RecurrentNet
from rnnstudy.tasks import build_task
from tests.oracle import unrolled_forward

TASKS = {
    "delayed_recall": config.DelayedRecallTask(d_min=2, d_max=13, n_buckets=3),
    "copy": config.CopyTask(d_min=4, d_max=12, n_buckets=3),
}


def _setup(cell, layers, task_name, seed=0):
    task = build_task(TASKS[task_name])
    b = task.generate(seed, 6)
    torch.manual_seed(seed)
    cfg = config.ModelConfig(cell=cell, hidden_size=5, num_layers=layers)
    model = RecurrentNet(cfg, task.input_size, task.output_size, task.readout).double()
    w = torch.randn(model(b.x.double()).out.shape, dtype=torch.float64)
    return task, b, model, w


def _oracle_credit(model, x, loss_fn, source):
    """{layer: (B,)} ‖∂L/∂h_s‖ per example (LSTM: with ∂L/∂c_s), by autograd on leaves added
    to every h_t and c_t of an explicitly unrolled loop."""
    leaves: dict = {}
    loss = loss_fn(unrolled_forward(model, x, None, leaves))
    keys = sorted(leaves)
    grads = dict(zip(keys, torch.autograd.grad(loss, [leaves[k] for k in keys]), strict=True))
    out = {}
    for layer in sorted({k for k, _ in keys if not k.endswith("_c")}):
        rows = []
        for bi, s in enumerate(source.tolist()):
            v = grads[(layer, s)][bi].norm()
            if (layer + "_c", s) in grads:
                v = torch.hypot(v, grads[(layer + "_c", s)][bi].norm())
            rows.append(float(v))
        out[layer] = np.array(rows)
    return out


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_credit_matches_per_example_autograd(cell, layers, task_name):
    task, b, model, w = _setup(cell, layers, task_name)
    x = b.x.double()

    def loss_fn(out):
        return (torch.tanh(out) * w).sum()

    fwd = model(x)
    for t in fwd.layers:
        t.retain_grad()
    loss_fn(fwd.out).backward()
    grads = layer_grads(model, fwd.inputs, fwd.layers, [t.grad for t in fwd.layers])
    norms = {k: v.numpy() for k, v in example_norms(grads).items()}
    edges = task.cfg.buckets()
    ours = credit.layer_credit(norms, b.meta["source"].numpy(), b.meta["distance"].numpy(), edges)
    ref = _oracle_credit(model, x, loss_fn, b.meta["source"])
    d = b.meta["distance"].numpy()
    assert {k.split("/")[1] for k in ours} == set(ref) == {f"l{i}" for i in range(layers)}
    for layer, c in ref.items():
        for lo, hi in edges:
            sel = (d >= lo) & (d <= hi)
            key = f"credit/{layer}/by_distance/{hi}"
            assert (key in ours) == bool(sel.any())
            if sel.any():
                assert ours[key] == pytest.approx(float(np.median(c[sel])), rel=1e-9)
        slope = np.polyfit(d.astype(float), np.log(c), 1)[0]
        assert ours[f"credit/{layer}/decay_per_step"] == pytest.approx(slope, rel=1e-8, abs=1e-12)
        assert ours[f"credit/{layer}/underflow"] == 0.0


def test_slope_standard_error_matches_numpy():
    rng = np.random.default_rng(0)
    d = rng.integers(2, 40, 50).astype(float)
    y = -0.3 * d + rng.normal(0, 0.5, 50)
    slope, se = credit.fit_slope(d, y)
    coef, cov = np.polyfit(d, y, 1, cov=True)  # numpy scales by resid²/(n - 2): the OLS SE
    assert slope == pytest.approx(coef[0], rel=1e-10)
    assert se == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-8)


def test_underflow_is_counted_and_left_out_of_the_fit():
    """float32 credit that underflowed to exactly 0 is not a log of 0 in the fit: the slope
    uses the positive values and ``underflow`` says how many were dropped."""
    d = np.array([2, 3, 4, 5, 90, 95])
    h = np.zeros((6, 3))
    h[:, 0] = [np.exp(-0.5 * k) for k in (2, 3, 4, 5)] + [0.0, 0.0]
    m = credit.credit_metrics(h, None, np.zeros(6, int), d, [(2, 50), (51, 100)])
    assert m["decay_per_step"] == pytest.approx(-0.5, rel=1e-12)
    assert m["underflow"] == pytest.approx(2 / 6)
    assert m["by_distance/100"] == 0.0  # the median of two zeros: no signal reaches there


def test_too_few_distances_is_nan_not_a_number():
    m = credit.credit_metrics(np.ones((4, 2)), None, np.zeros(4, int), np.full(4, 7), [(2, 9)])
    assert math.isnan(m["decay_per_step"]) and math.isnan(m["decay_se"])


def test_doctest():
    import doctest

    assert doctest.testmod(credit).failed == 0


def test_a_core_task_run_logs_credit_metrics_artifact_and_figure(store):
    """End to end: the probe of a real run on a core task logs ``credit/l0/*`` at each probe,
    ``credit/l0.npz`` (probe x bucket) and the MLflow UI figure ``figures/credit_l0.png``."""
    from rnnstudy import tracking
    from rnnstudy.config import parse_run
    from rnnstudy.runner import run_one

    cfg = parse_run(
        {
            "model": {"cell": "rnn", "hidden_size": 8},
            "task": {"name": "delayed_recall", "d_min": 2, "d_max": 12, "n_buckets": 3},
            "train": {"max_steps": 4, "batch_size": 16, "val_every": 2, "val_size": 32},
            "probe": {"every": 2, "lyapunov": 0},
        }
    )
    res = run_one(cfg, experiment="credit_e2e", progress=False)
    c = tracking.client()
    hist = tracking.metric_history(c, res.run_id, "credit/l0/decay_per_step")
    assert [step for step, _, _ in hist] == [0, 1, 2]  # probes at 0, 1 (log-spaced), 2
    assert all(v < 0 for _, v, _ in hist)  # at initialisation credit falls with distance
    z = tracking.read_npz(c, res.run_id, "credit/l0.npz")
    assert z["credit"].shape == (3, 3) and list(z["edges"]) == [5, 9, 12]  # buckets of [2, 12]
    assert "figures/credit_l0.png" in tracking.list_artifacts(c, res.run_id, "figures")
