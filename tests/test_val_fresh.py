"""``train.val_fresh``: each validation check on a fresh set seeded by (run seed, step), as in
Pascanu et al. 2013's "10,000 freshly generated sequences"; training, the final evaluation and
the fixed set unchanged."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch

from rnnstudy.config import parse_run
from rnnstudy.data import TaskData, make_data
from rnnstudy.runner import run_one
from rnnstudy.tasks import build_task
from rnnstudy.tasks.temporal_order import TemporalOrderTask


def _data(seed: int = 0, fresh: bool = True) -> TaskData:
    return TaskData(build_task(TemporalOrderTask(L=20)), seed, 8, 300, val_fresh=fresh)


def _same(a, b) -> bool:
    return torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_fresh_sets_are_deterministic_per_step_and_new_at_each_step():
    d = _data()
    a, b = d.fresh_validation_set(100), _data().fresh_validation_set(100)
    assert len(a) == len(d.val) == 300
    assert _same(a, b)  # the same (seed, step): the same set, in another data module too
    assert not _same(a, d.fresh_validation_set(200))
    assert not _same(a, d.val)  # never the fixed set
    assert not _same(a, _data(seed=1).fresh_validation_set(100))


def test_the_loader_draws_the_set_of_the_current_step():
    d = _data()
    d.trainer = SimpleNamespace(global_step=40)
    first = list(d.val_dataloader())
    assert _same(first[0], d.fresh_validation_set(40))
    d.trainer.global_step = 80
    again = list(d.val_dataloader())  # the same loader object is re-iterated by Lightning
    assert _same(again[0], d.fresh_validation_set(80))
    fixed = _data(fresh=False)
    assert _same(list(fixed.val_dataloader())[0], fixed.val)


def test_config_field_default_and_make_data():
    assert "val_fresh" not in parse_run({}).model_dump()["train"]  # config_hash unchanged
    cfg = parse_run({"task": {"name": "temporal_order", "L": 20}, "train": {"val_fresh": True}})
    assert cfg.model_dump()["train"]["val_fresh"] is True
    assert make_data(cfg, build_task(cfg.task)).val_fresh
    per_window = cfg.model_copy(update={"train": cfg.train.model_copy(update={"tbptt": 5})})
    per_window.train.tbptt_mode = "per_window"
    assert make_data(per_window, build_task(cfg.task)).val_fresh


class _Record(pl.Callback):
    def __init__(self):
        self.train_losses: list[float] = []
        self.checks: list[tuple[int, float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_losses.append(pl_module.last_loss)

    def on_validation_end(self, trainer, pl_module):
        step = int(trainer.global_step)
        data = trainer.datamodule
        want = data.fresh_validation_set(step) if data.val_fresh else data.val
        again = pl_module.evaluate_batch(want)["val/loss"]
        self.checks.append((step, pl_module.val_metrics["val/loss"], again))


def test_a_run_validates_on_fresh_sets_and_trains_the_same():
    """Same seed with and without: the same training losses and final metrics (the final
    evaluation keeps the fixed set), validation losses that differ at every check, each one the
    loss on that step's fresh set."""
    runs = {}
    for fresh in (False, True):
        cfg = parse_run(
            {
                "task": {"name": "temporal_order", "L": 20},
                "model": {"cell": "rnn", "hidden_size": 8},
                "train": {
                    "max_steps": 6,
                    "batch_size": 8,
                    "val_every": 2,
                    "val_size": 64,
                    "val_fresh": fresh,
                },
                "probe": {"enabled": False},
            }
        )
        rec = _Record()
        result = run_one(cfg, callbacks=[rec], progress=False)
        runs[fresh] = (rec, result)
    (fixed, r0), (fresh, r1) = runs[False], runs[True]
    assert fresh.train_losses == fixed.train_losses  # identical by construction: same draws
    assert len(fresh.train_losses) == 6
    assert [s for s, _, _ in fresh.checks] == [s for s, _, _ in fixed.checks] == [2, 4, 6]
    for (_, a, a_again), (_, b, b_again) in zip(fixed.checks, fresh.checks, strict=True):
        assert a == pytest.approx(a_again, rel=1e-5)
        assert b == pytest.approx(b_again, rel=1e-5)  # the loss on this step's fresh set
        assert abs(a - b) > 1e-6
    assert r1.metrics["final/loss"] == pytest.approx(r0.metrics["final/loss"], rel=1e-6)
