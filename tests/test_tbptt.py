"""Truncated BPTT: no gradient crosses a window boundary; inside a window it is exact BPTT."""

import pytest
import torch

from rnnstudy.instruments.gradtime import layer_grads, reduce_norms
from rnnstudy.metrics import loss_sum
from rnnstudy.module import SequenceModule, windows
from rnnstudy.tasks import build_task
from tests.helpers import tiny
from tests.oracle import oracle_norms


def test_windows_cover_the_sequence():
    assert windows(10, None) == [(0, 10)]
    assert windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert windows(10, 20) == [(0, 10)]


def _setup(cell, k):
    cfg = tiny(
        model__cell=cell,
        model__num_layers=2,
        train__tbptt=k,
        train__precision="64",
        task={"name": "delayed_recall", "A": 4, "D": 2, "L": 12},
    )
    task = build_task(cfg.task)
    torch.manual_seed(0)
    module = SequenceModule(cfg, task).double()
    batch = task.generate(7, 3)
    batch.x = batch.x.double()
    return module, task, batch


def _probe(module, batch):
    module.zero_grad()
    loss = module.forward_loss(batch, capture=True)
    loss.backward()
    per_window = []
    for w in module.captured:
        per_window.append(layer_grads(module.model, w.inputs, w.outputs, w.grads, w.state0))
    return per_window


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_no_gradient_into_earlier_windows(cell):
    module, task, batch = _setup(cell, 4)
    # keep only the loss terms of the last window (steps 8..11)
    batch.mask[:, :8] = False
    grads = _probe(module, batch)
    assert len(grads) == 3
    for w in grads[:2]:
        for v in w.values():
            assert torch.count_nonzero(v) == 0  # exactly zero
    assert all(torch.count_nonzero(v) > 0 for v in grads[2].values())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_window_equals_full_bptt_on_that_window(cell):
    k = 4
    module, task, batch = _setup(cell, k)
    grads = _probe(module, batch)
    count = batch.mask.sum()
    for (a, b), w, got in zip(windows(12, k), module.captured, grads, strict=True):
        y, m = batch.y[:, a:b], batch.mask[:, a:b]

        def loss_fn(out, y=y, m=m):
            return loss_sum(task, out, y, m) / count

        ref = oracle_norms(module.model, batch.x[:, a:b], loss_fn, w.state0)
        ours = reduce_norms(got)
        for key in ref:
            torch.testing.assert_close(ours[key], ref[key], rtol=1e-5, atol=1e-12)
        # the carried state is detached: no graph reaches back into the previous window
        if w.state0 is not None:
            flat = [t for s in w.state0 for t in (s if isinstance(s, tuple) else (s,))]
            assert all(not t.requires_grad for t in flat)


def test_tbptt_parameter_gradient_is_sum_of_window_gradients():
    module, task, batch = _setup("lstm", 5)
    module.zero_grad()
    module.forward_loss(batch).backward()
    got = [p.grad.clone() for p in module.parameters()]
    # by hand: each window from the detached carried state
    module.zero_grad()
    state, count = None, batch.mask.sum()
    for a, b in windows(12, 5):
        fwd = module.model(batch.x[:, a:b], state)
        (loss_sum(task, fwd.out, batch.y[:, a:b], batch.mask[:, a:b]) / count).backward()
        state = [tuple(t.detach() for t in s) for s in fwd.state]
    for g, p in zip(got, module.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)
