"""The instrument protocol (DESIGN §1): the registry, the config switches, the read-only step
record, an instrument that needs the loss graph, and the driver's checkpoint state."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from rnnstudy.data import TaskData
from rnnstudy.instruments import INSTRUMENTS, Instrument, Instruments, from_config
from rnnstudy.instruments.record import StepRecord
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import build_task
from rnnstudy.trainer import make_trainer, quiet_lightning
from tests.helpers import tiny


def test_registry_names_are_the_classes_names():
    assert set(INSTRUMENTS) == {
        "gradnorms",
        "gradtime",
        "credit",
        "propagation",
        "lyapunov",
        "spectrum",
    }
    for name, cls in INSTRUMENTS.items():
        assert cls.name == name and issubclass(cls, Instrument)
        assert cls.needs <= {"windows", "probe", "loss_graph"}


@pytest.mark.parametrize(
    "probe,want",
    [
        ({}, {"gradnorms", "gradtime", "credit", "propagation", "lyapunov", "spectrum"}),
        ({"enabled": False}, {"gradnorms"}),
        (
            {"credit": False, "spectrum": False},
            {"gradnorms", "gradtime", "propagation", "lyapunov"},
        ),
        ({"propagation": False, "lyapunov": 0}, {"gradnorms", "gradtime", "credit", "spectrum"}),
    ],
)
def test_probe_switches_choose_the_instruments(probe, want):
    task = {"name": "delayed_recall", "A": 4, "d_min": 2, "d_max": 8}
    cfg = tiny(task=task, **{f"probe__{k}": v for k, v in probe.items()})
    assert {i.name for i in from_config(cfg).instruments} == want


def test_credit_is_for_tasks_with_distances():
    cfg = tiny(task={"name": "charlm", "seq_len": 8})
    assert "credit" not in {i.name for i in from_config(cfg).instruments}


class _LossGraph(Instrument):
    """Needs the loss graph: ‖∇θ L‖ from its own autograd call, beside the clip's pre-norm."""

    name = "loss_graph_check"
    needs = frozenset({"loss_graph"})

    def __init__(self):
        super().__init__(2, False)
        self.seen: list[tuple[int, float, float]] = []

    def measure(self, record):
        params = [p for p in record.model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(record.loss_graph, params, allow_unused=True)
        norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads if g is not None))
        self.seen.append((record.step, norm, record.clip.pre))
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.step = 0  # the record is read-only
        return {"check/grad_norm": norm}, None


def test_an_instrument_that_needs_the_loss_graph_gets_it_on_its_schedule():
    """The module retains the graph only at the steps that instrument is due; its own autograd
    call on it gives the gradient the step took (the pre-clip norm). The record carries the
    network, never the LightningModule: there is nothing there for an instrument to set."""
    quiet_lightning()
    cfg = tiny(train__max_steps=5, train__precision="64", probe__enabled=False)
    task = build_task(cfg.task)
    torch.manual_seed(0)
    inst = _LossGraph()
    module = SequenceModule(cfg, task, Instruments([inst]))
    trainer = make_trainer(cfg, None, [], progress=False)
    trainer.fit(module, datamodule=TaskData(task, cfg.seed, cfg.train.batch_size, 16))
    assert [s for s, _, _ in inst.seen] == [0, 2, 4]
    for _, norm, pre in inst.seen:
        assert norm == pytest.approx(pre, rel=1e-9)
    assert not any(f.name == "module" for f in dataclasses.fields(StepRecord))


def test_driver_state_round_trip():
    cfg = tiny(task={"name": "delayed_recall", "A": 4, "d_min": 2, "d_max": 8})
    a = from_config(cfg)
    a.steps["gradtime"] = [0, 2]
    a.rows["gradtime"] = {"l0": [torch.arange(3.0).numpy(), torch.ones(3).numpy()]}
    a["gradnorms"].steps, a["gradnorms"].clipped = 5, 2
    torch.randn(3, generator=a.gen)
    b = from_config(cfg)
    b.load_state_dict(a.state_dict())
    assert b.steps["gradtime"] == [0, 2] and b["gradnorms"].state_dict() == {
        "steps": 5,
        "clipped": 2,
    }
    assert (b.arrays("gradtime")["l0"]["norms"] == a.arrays("gradtime")["l0"]["norms"]).all()
    assert torch.equal(torch.randn(2, generator=a.gen), torch.randn(2, generator=b.gen))
