"""Clipping: norms before/after, the flag and rate, and that clipping changes the update."""

import math

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger

from rnnstudy.data import TaskData
from rnnstudy.instruments import Instruments
from rnnstudy.instruments.clipping import GradNorms, clip_gradients
from rnnstudy.models.recurrent import param_label
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import build_task
from rnnstudy.trainer import make_trainer, quiet_lightning
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

    def measure(self, record):
        self.seen.append(record.clip)
        return super().measure(record)


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
    rec = _Recorder()
    module = SequenceModule(cfg, task, Instruments([rec]))
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    # the raw gradient on the first training batch, computed independently
    data = TaskData(task, cfg.seed, cfg.train.batch_size, 16)
    batch = data.train.batch(0)  # the run's first training batch
    module.zero_grad()
    module.forward_loss(batch).backward()
    raw = {n: p.grad.detach().clone() for n, p in module.named_parameters()}
    module.zero_grad()
    logger = _MemoryLogger()
    trainer = make_trainer(cfg, logger, [], progress=False)
    trainer.fit(module, datamodule=data)
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
    # per-parameter norms (before clipping) under the DESIGN names, from the same fused pass
    logged = [m for step, m in logger.rows if step == 0 and "grad/norm_preclip" in m][0]
    for n, g in raw.items():
        label = "grad/param/" + param_label(n.removeprefix("model."))
        assert logged[label] == pytest.approx(float(g.norm()), rel=1e-5)
    assert sum(k.startswith("grad/param/") for k in logged) == len(raw)


def test_no_gradients_are_undefined_not_zero():
    ps = [torch.nn.Parameter(torch.zeros(3))]
    for mode in ("none", "norm", "value"):
        s = clip_gradients(ps, mode, 1.0)
        assert not s.has_grads and math.isnan(s.pre) and math.isnan(s.post) and not s.clipped


def test_per_parameter_norms_from_the_same_pass():
    ps = _params(scale=10)
    expect = [float(torch.linalg.vector_norm(p.grad)) for p in ps]
    s = clip_gradients(ps, "norm", 1.0)
    assert s.norms == pytest.approx(expect)  # before clipping


class _MemoryLogger(Logger):
    def __init__(self):
        super().__init__()
        self.rows: list[tuple[int, dict]] = []

    @property
    def name(self):
        return "memory"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))


class _PoisonAt(pl.Callback):
    """Sets a weight to NaN before training step ``step``: that step's loss is NaN."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                pl_module.model.head.weight.fill_(float("nan"))


def test_divergence_step_logs_no_gradient_figures():
    """divergence_step_logs_zero_gradients (issue 13 defect 4): when the loss is NaN, Lightning
    still calls configure_gradient_clipping with no gradients; that step used to log
    grad/norm_preclip = grad/norm_postclip = 0.0 and count in the clip rate."""
    quiet_lightning()
    cfg = tiny(clip__mode="norm", clip__value=1e-4, train__max_steps=6, probe__enabled=False)
    task = build_task(cfg.task)
    torch.manual_seed(0)
    logger, norms = _MemoryLogger(), GradNorms(1)
    module = SequenceModule(cfg, task, Instruments([norms]))
    trainer = make_trainer(cfg, logger, [_PoisonAt(3)], progress=False)
    trainer.fit(module, datamodule=TaskData(task, cfg.seed, cfg.train.batch_size, 16))
    assert module.diverged
    grad_steps = [step for step, m in logger.rows if "grad/norm_preclip" in m]
    assert grad_steps == [0, 1, 2]  # the NaN step (3) logs nothing
    for _, m in logger.rows:
        for k, v in m.items():
            if k.startswith("grad/"):
                assert math.isfinite(v) and (k == "grad/clipped" or v > 0), (k, v)
    assert norms.steps == 3 and norms.clipped == 3  # every real step clipped at tau = 1e-4
    last = [m for _, m in logger.rows if "grad/clip_rate" in m][-1]
    assert last["grad/clip_rate"] == 1.0
