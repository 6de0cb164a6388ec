"""Truncated BPTT: no gradient crosses a window boundary; inside a window it is exact BPTT."""

import copy

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from rnnstudy.data import TaskData, WindowedData
from rnnstudy.instruments import Instrument, Instruments
from rnnstudy.instruments.gradtime import layer_grads, reduce_norms
from rnnstudy.metrics import loss_sum
from rnnstudy.module import SequenceModule, windows
from rnnstudy.tasks import build_task
from rnnstudy.trainer import make_trainer
from tests.helpers import tiny
from tests.oracle import oracle_norms


def test_windows_cover_the_sequence():
    assert windows(10, None) == [(0, 10)]
    assert windows(10, 4) == [(0, 2), (2, 6), (6, 10)]
    assert windows(10, 20) == [(0, 10)]
    assert windows(8, 4) == [(0, 4), (4, 8)]


@pytest.mark.parametrize("L,k", [(64, 50), (64, 20), (64, 5), (12, 4), (7, 1), (61, 60)])
def test_defect2_windows_end_at_the_sequence_end(L, k):
    """The last window (the one that holds a many-to-one target) is a full k steps; the
    first is the short one. On qa_distance with L=64 the old windows started at t=0 and left
    the target a last window of 14 (k=50) or 4 (k=20, k=5) steps."""
    spans = windows(L, k)
    assert spans[-1] == (L - k, L)
    assert spans[0][0] == 0
    assert all(b - a == k for a, b in spans[1:])
    assert 1 <= spans[0][1] - spans[0][0] <= k
    assert all(b == a2 for (_, b), (a2, _) in zip(spans[:-1], spans[1:], strict=True))


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
    """(per-window layer gradients, the captured windows)."""
    module.zero_grad()
    loss, captured = module.forward_capture(batch)
    loss.backward()
    per_window = []
    for w in captured:
        per_window.append(layer_grads(module.model, w.inputs, w.outputs, w.grads, w.state0))
    return per_window, captured


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_no_gradient_into_earlier_windows(cell):
    module, task, batch = _setup(cell, 4)
    # keep only the loss terms of the last window (steps 8..11)
    batch.mask[:, :8] = False
    grads, captured = _probe(module, batch)
    assert [(w.start, w.outputs[0].shape[1]) for w in captured] == [(0, 4), (4, 4), (8, 4)]
    assert len(grads) == 3
    for w in grads[:2]:
        for v in w.values():
            # exactly zero by construction: no gradient reaches these windows (G_t = 0, and
            # the recurrence only multiplies zeros)
            assert torch.count_nonzero(v) == 0
    assert all(torch.count_nonzero(v) > 0 for v in grads[2].values())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_window_equals_full_bptt_on_that_window(cell):
    k = 4
    module, task, batch = _setup(cell, k)
    grads, captured = _probe(module, batch)
    count = batch.mask.sum()
    for (a, b), w, got in zip(windows(12, k), captured, grads, strict=True):
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


# ---------------------------------------------------------------- per_window (classic TBPTT)


class _ClipSeen(Instrument):
    """Keeps the clip norms of every step record."""

    name = "clip_seen"

    def __init__(self):
        super().__init__()
        self.stats = []

    def measure(self, record):
        self.stats.append(record.clip)
        return {}, None


class _CountSteps(pl.Callback):
    def __init__(self, seen: _ClipSeen):
        self.updates = 0
        self.clip_stats = seen.stats

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.updates += 1


def _per_window_cfg(task, k, steps, **over):
    return tiny(
        task=task,
        model__cell="gru",
        model__num_layers=2,
        train__tbptt=k,
        train__tbptt_mode="per_window",
        train__precision="64",
        train__max_steps=steps,
        train__val_every=1000,
        train__batch_size=3,
        clip__mode="none",
        optim__name="adam",
        optim__lr=0.05,
        probe__enabled=False,
        **over,
    )


def _fit(cfg):
    """Train with the real runner pieces; returns (initial model copy, trained module, counter)."""
    task = build_task(cfg.task)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    seen = _ClipSeen()
    module = SequenceModule(cfg, task, Instruments([seen]))
    start = copy.deepcopy(module.model).double()
    count = _CountSteps(seen)
    trainer = make_trainer(cfg, None, [count], progress=False)
    trainer.fit(
        module, datamodule=WindowedData(task, cfg.seed, 3, cfg.train.val_size, cfg.train.tbptt)
    )
    return start, module, count, trainer


def _hand_loop(model, task, cfg, sequences):
    """Classic TBPTT by hand, float64: carry the state, detach it, one Adam update per window
    that holds a loss term, on that window's mean loss."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    k, updates = cfg.train.tbptt, 0
    stream = iter(
        TaskData(task, cfg.seed, cfg.train.batch_size, cfg.train.val_size).train_dataloader()
    )
    for _ in range(sequences):
        batch = next(stream)  # the run's training batches, in order
        x, L, state = batch.x.double(), batch.x.shape[1], None
        for a in range(L - k * ((L + k - 1) // k), L, k):  # windows ending at L
            a0, b = max(a, 0), a + k
            fwd = model(x[:, a0:b], state)
            state = [s.detach() for s in fwd.state]
            if task.readout == "last":  # the target sits at the end: the last window only
                if b < L:
                    continue
                loss = loss_sum(task, fwd.out, batch.y, batch.mask) / batch.mask.sum()
            else:
                m = batch.mask[:, a0:b]
                if not bool(m.any()):
                    continue
                loss = loss_sum(task, fwd.out, batch.y[:, a0:b], m) / m.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
    return updates


def test_per_window_one_update_per_window_equals_hand_written_tbptt():
    task_cfg = {"name": "copy", "A": 3, "K": 2, "T": 7}  # L = 11, a loss at every step
    k = 4  # windows (0, 3), (3, 7), (7, 11): 3 updates per sequence
    cfg = _per_window_cfg(task_cfg, k, steps=6)
    start, module, count, trainer = _fit(cfg)
    assert count.updates == 6 and trainer.global_step == 6
    assert all(s is not None for s in count.clip_stats)  # the gradient instruments saw each
    task = build_task(cfg.task)
    assert _hand_loop(start, task, cfg, sequences=2) == 6
    for (name, p), q in zip(module.model.named_parameters(), start.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12, msg=name)


def test_per_window_gradient_does_not_cross_a_window_boundary():
    """The second update's gradient equals backprop through its window alone from the carried
    (constant) state, and differs from backprop that reaches into the first window."""
    cfg = _per_window_cfg({"name": "copy", "A": 3, "K": 2, "T": 7}, 4, steps=3)
    task = build_task(cfg.task)
    torch.manual_seed(0)
    module = SequenceModule(cfg, task).double()
    batch = task.generate(5, 3)
    batch.x = batch.x.double()
    module.window_step_loss(batch)[0].backward()  # window (0, 3); no optimizer step
    module.zero_grad()
    module.window_step_loss(batch)[0].backward()  # window (3, 7)
    ours = [p.grad.clone() for p in module.model.parameters()]

    def grads(detach: bool) -> list[torch.Tensor]:
        module.zero_grad()
        state = module.model(batch.x[:, 0:3]).state
        if detach:
            state = [s.detach() for s in state]
        out = module.model(batch.x[:, 3:7], state).out
        m = batch.mask[:, 3:7]
        (loss_sum(task, out, batch.y[:, 3:7], m) / m.sum()).backward()
        return [p.grad.clone() for p in module.model.parameters()]

    truncated, full = grads(True), grads(False)
    for g, t in zip(ours, truncated, strict=True):
        torch.testing.assert_close(g, t, rtol=1e-12, atol=1e-14)
    assert any(not torch.allclose(t, f) for t, f in zip(truncated, full, strict=True))


def test_per_window_many_to_one_takes_one_update_per_sequence():
    """qa_distance has its target at the last step: only the last window holds a loss term,
    so per_window takes one update per sequence (the leading windows run forward only)."""
    task_cfg = {
        "name": "qa_distance",
        "n_keys": 4,
        "n_values": 4,
        "n_facts": 2,
        "n_filler": 2,
        "d_min": 2,
        "d_max": 12,
    }
    cfg = _per_window_cfg(task_cfg, 5, steps=2)
    start, module, count, _ = _fit(cfg)
    assert count.updates == 2
    task = build_task(cfg.task)
    assert _hand_loop(start, task, cfg, sequences=2) == 2
    for p, q in zip(module.model.parameters(), start.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


def test_per_window_run_records_full_length_gradient_rows(store):
    """A per_window run with probes finishes; every probe row spans the whole sequence (the
    windows before the probed update carry zero gradient)."""
    from mlflow.tracking import MlflowClient

    from rnnstudy.runner import run_one

    qa = {"name": "qa_distance", "n_keys": 4, "n_values": 4, "n_facts": 2, "n_filler": 2}
    for task_cfg in [{"name": "copy", "A": 3, "K": 2, "T": 7}, {**qa, "d_min": 2, "d_max": 12}]:
        cfg = tiny(
            task=task_cfg,
            train__tbptt=4,
            train__tbptt_mode="per_window",
            train__max_steps=9,  # whole sequences: every probe at a sequence's last update
            probe__every=3,
        )
        res = run_one(cfg, experiment="pw", progress=False)
        c = MlflowClient(store)
        assert c.get_run(res.run_id).info.status == "FINISHED"
        z = np.load(c.download_artifacts(res.run_id, "gradtime/l0.npz"))
        L = build_task(cfg.task).generate(0, 1).x.shape[1]
        assert z["norms"].shape[1] == L and len(z["steps"]) >= 2
        # exactly zero by construction: the steps before the probed window get zero rows
        assert np.all(z["norms"][:, : L - 4] == 0) and np.all(z["norms"][:, -1] > 0)
