"""Clipping: norms before/after, the flag and rate, and that clipping changes the update."""

import math

import pytest
import torch

from rnnstudy.data import TRAIN, TaskData, derive_seed
from rnnstudy.instruments.callbacks import GradNorms
from rnnstudy.instruments.clipping import clip_gradients
from rnnstudy.module import SequenceModule
from rnnstudy.runner import make_trainer, quiet_lightning
from rnnstudy.tasks import build_task
from tests.helpers import tiny


def _params(seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    ps = [torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(4))]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * scale
    return ps


def _norm(ps):
    return math.sqrt(sum(float((p.grad**2).sum()) for p in ps))


def test_norm_mode_clips_to_tau():
    ps = _params(scale=10)
    pre = _norm(ps)
    s = clip_gradients(ps, "norm", 1.0)
    assert s.clipped and s.pre == pytest.approx(pre)
    assert s.post <= 1.0 + 1e-6 and s.post == pytest.approx(_norm(ps))


def test_norm_mode_below_tau_unchanged():
    ps = _params(scale=0.01)
    before = [p.grad.clone() for p in ps]
    s = clip_gradients(ps, "norm", 1.0)
    assert not s.clipped and s.post == s.pre
    assert all(torch.equal(a, p.grad) for a, p in zip(before, ps, strict=True))


def test_value_mode():
    ps = _params(scale=3)
    s = clip_gradients(ps, "value", 0.5)
    assert s.clipped and max(float(p.grad.abs().max()) for p in ps) <= 0.5
    assert s.post == pytest.approx(_norm(ps)) and s.post < s.pre
    ps = _params(scale=0.01)
    assert not clip_gradients(ps, "value", 0.5).clipped


def test_none_mode_and_non_finite():
    ps = _params(scale=3)
    s = clip_gradients(ps, "none", 0.1)
    assert not s.clipped and s.pre == s.post
    ps[0].grad[0, 0] = float("inf")
    assert not clip_gradients(ps, "norm", 1.0).finite


class _Recorder(GradNorms):
    def __init__(self):
        super().__init__(1)
        self.seen = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append(pl_module.last_clip)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


@pytest.mark.parametrize("mode,tau", [("norm", 0.05), ("value", 0.001), ("none", 1.0)])
def test_clipping_changes_the_update(mode, tau):
    """One SGD step through Lightning: Δθ = -lr · clip(∇L). Fails if clipping ran before
    backward() (then it would clip nothing and the update would be the raw gradient)."""
    quiet_lightning()
    cfg = tiny(
        clip__mode=mode,
        clip__value=tau,
        optim__name="sgd",
        optim__lr=1.0,
        train__max_steps=1,
        probe__enabled=False,
    )
    task = build_task(cfg.task)
    torch.manual_seed(0)
    module = SequenceModule(cfg, task)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    # the raw gradient on the first training batch, computed independently
    batch = task.generate(derive_seed(cfg.seed, TRAIN, 0), cfg.train.batch_size)
    module.zero_grad()
    module.forward_loss(batch).backward()
    raw = {n: p.grad.detach().clone() for n, p in module.named_parameters()}
    module.zero_grad()
    rec = _Recorder()
    trainer = make_trainer(cfg, None, [rec], progress=False)
    trainer.fit(module, datamodule=TaskData(task, cfg.seed, cfg.train.batch_size, 16))
    delta = {n: before[n] - p.detach() for n, p in module.named_parameters()}
    raw_norm = math.sqrt(sum(float((g**2).sum()) for g in raw.values()))
    stats = rec.seen[0]
    assert stats.pre == pytest.approx(raw_norm, rel=1e-5)
    if mode == "norm":
        assert stats.clipped and raw_norm > tau
        scale = tau / (raw_norm + 1e-6)
        for n in raw:
            torch.testing.assert_close(delta[n], raw[n] * scale, rtol=1e-4, atol=1e-7)
    elif mode == "value":
        assert stats.clipped
        for n in raw:
            torch.testing.assert_close(delta[n], raw[n].clamp(-tau, tau), rtol=1e-4, atol=1e-7)
    else:
        for n in raw:
            torch.testing.assert_close(delta[n], raw[n], rtol=1e-4, atol=1e-7)
    assert rec.clipped == int(stats.clipped) and rec.steps == 1
