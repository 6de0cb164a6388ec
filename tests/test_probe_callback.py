"""The gradtime instrument inside a real Lightning step equals the brute-force oracle."""

import copy

import numpy as np
import pytest
import torch

from rnnstudy.data import TaskData
from rnnstudy.instruments import Instruments
from rnnstudy.instruments.clipping import GradNorms
from rnnstudy.instruments.gradtime import GradTime
from rnnstudy.instruments.schedule import should_probe
from rnnstudy.metrics import loss_sum
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import build_task
from rnnstudy.trainer import make_trainer, quiet_lightning
from tests.helpers import tiny
from tests.oracle import oracle_norms


@pytest.mark.parametrize(
    "cell,task,bi",
    [
        ("lstm", {"name": "copy", "A": 4, "K": 2, "T": 5}, False),
        (
            "gru",
            {
                "name": "qa_distance",
                "d_min": 2,
                "d_max": 6,
                "n_keys": 3,
                "n_values": 3,
                "n_facts": 2,
            },
            True,
        ),
        ("rnn", {"name": "delayed_recall", "A": 3, "D": 2, "L": 8}, False),
    ],
)
def test_callback_rows_equal_oracle(cell, task, bi, tmp_path):
    quiet_lightning()
    cfg = tiny(
        model__cell=cell,
        model__num_layers=2,
        model__bidirectional=bi,
        task=task,
        train__max_steps=1,
        train__precision="64",
        probe__every=1,
    )
    t = build_task(cfg.task)
    torch.manual_seed(0)
    probe = Instruments([GradNorms(), GradTime(1, False)], out_dir=tmp_path)
    module = SequenceModule(cfg, t, probe)
    initial = copy.deepcopy(module.model).double()
    trainer = make_trainer(cfg, None, [], progress=False)
    data = TaskData(t, cfg.seed, cfg.train.batch_size, 16)
    trainer.fit(module, datamodule=data)
    batch = data.train.batch(0)  # the run's first training batch
    x = batch.x.double()
    count = batch.mask.sum()
    ref = oracle_norms(initial, x, lambda out: loss_sum(t, out, batch.y, batch.mask) / count)
    probe.save()
    mats = {k: a["norms"] for k, a in probe.arrays("gradtime").items()}
    assert set(mats) == set(ref)
    for k, v in ref.items():
        np.testing.assert_allclose(mats[k][0], v.numpy(), rtol=1e-5, atol=1e-12)
    saved = np.load(tmp_path / "gradtime" / "l0.npz")
    assert saved["norms"].shape == (1, x.shape[1]) and list(saved["steps"]) == [0]


def test_schedule():
    assert [s for s in range(70) if should_probe(s, 32, True)] == [0, 1, 2, 4, 8, 16, 32, 64]
    assert [s for s in range(70) if should_probe(s, 32, False)] == [0, 32, 64]
