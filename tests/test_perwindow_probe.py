"""Probes of per-window TBPTT runs (issue 21 items 3 and 4), against brute-force oracles.

A per_window run updates the weights after every window, so the windows of one sequence ran
under different weights. The loss-independent instruments (propagation profile, Lyapunov
exponents) must describe one network: the weights at the probe, driven through the whole
sequence. The per-time-step gradient stays what the update used: that window alone.
"""

import copy

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from rnnstudy.data import WindowedData
from rnnstudy.instruments import Instruments
from rnnstudy.instruments.gradtime import GradTime
from rnnstudy.instruments.lyapunov import Lyapunov
from rnnstudy.instruments.propagation import Propagation, source_steps
from rnnstudy.models.cells import layer_params
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import build_task
from rnnstudy.trainer import make_trainer, quiet_lightning
from tests.helpers import tiny
from tests.oracle import oracle_lyapunov, oracle_profile, step_jacobians


def _probe(sources=4, lyapunov=2):
    """The probe instruments (gradtime, propagation, lyapunov), every step."""
    return [GradTime(1, False), Propagation(1, False, sources), Lyapunov(1, False, lyapunov)]


class _Snapshot(Instruments):
    """The driver that keeps, at every probe, a copy of the network, the batch and the state of
    its generator just before the probe ran."""

    def __init__(self, parts, seed):
        super().__init__(parts, seed=seed)
        self.snaps: list[tuple] = []

    def measure(self, record, logger=None):
        if record.windows and record.backward_ran:
            self.snaps.append((copy.deepcopy(record.model), record.batch, self.gen.get_state()))
        return super().measure(record, logger)


def _matrices(probe):
    return {k: a["norms"] for k, a in probe.arrays("gradtime").items()}


def _cfg(cell, steps, k=4, seq_len=12, **over):
    return tiny(
        task={"name": "charlm", "seq_len": seq_len},
        model__cell=cell,
        model__hidden_size=8,
        model__recurrent_gain=1.8,
        train__tbptt=k,
        train__tbptt_mode="per_window",
        train__precision="64",
        train__max_steps=steps,
        train__val_every=1000,
        train__batch_size=4,
        optim__name="adam",
        optim__lr=0.05,
        seed=15,
        **over,
    )


def _fit(cfg, probe):
    quiet_lightning()
    task = build_task(cfg.task)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task, probe)
    trainer = make_trainer(cfg, None, [], progress=False)
    data = WindowedData(task, cfg.seed, cfg.train.batch_size, cfg.train.val_size, cfg.train.tbptt)
    trainer.fit(module, datamodule=data)
    return module


def _oracle(cell, model, batch, gen_state, sources, k, examples=8):
    """The propagation profile and exponents of ``model``'s layer 0 on a full forward of
    ``batch`` from the zero state, with the random vectors the probe draws (an injection
    (B, S), then the exponents' initial directions (M, S, k), from the same generator)."""
    x = batch.x.double()
    B, L, _ = x.shape
    H = model.cfg.hidden_size
    S = 2 * H if cell == "lstm" else H
    p = {n: t.detach().double() for n, t in layer_params(model.layers[0]).items()}
    jacs = step_jacobians(cell, p, x, model.cfg.nonlinearity)
    gen = torch.Generator().manual_seed(0)
    gen.set_state(gen_state)
    u = torch.randn(B, S, generator=gen, dtype=torch.float64)
    u = (u / u.norm(dim=1, keepdim=True)).numpy()
    steps = source_steps(L, sources)
    src = [steps[b % len(steps)] for b in range(B)]
    M = min(examples, B)
    q0 = torch.linalg.qr(torch.randn(M, S, min(k, S), generator=gen, dtype=torch.float64))[0]
    return oracle_profile(jacs, u, src), oracle_lyapunov(jacs, q0.numpy())


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_issue21_item3_per_window_probe_describes_the_current_network(cell):
    """Before the fix the probe concatenated the sequence's windows, each run under the weights
    of its own update, and combined those stale states with the current weights (a tanh RNN:
    ρ 0.72 off relative, λ₁ of the wrong sign). Now: equal to the brute-force oracle on the
    weights at the probe and a full forward of the probed batch."""
    cfg = _cfg(cell, steps=6)  # 3 updates per sequence; probes at steps 2 and 5
    probe = _Snapshot(_probe(sources=4, lyapunov=3), cfg.seed)
    _fit(cfg, probe)
    assert probe.steps["gradtime"] == [2, 5]
    assert len(probe.snaps) == 2
    for i, (model, batch, state) in enumerate(probe.snaps):
        rho, lam = _oracle(cell, model, batch, state, sources=4, k=3)
        np.testing.assert_allclose(probe.rows["propagation"]["l0"][i], rho, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(probe.rows["lyapunov"]["l0"][i], lam, rtol=1e-9, atol=1e-12)


def test_issue21_item3_per_window_gradient_row_is_the_probed_window():
    """The gradient part stays per window: the row is zero before the probed (last) window
    and nonzero inside it."""
    cfg = _cfg("rnn", steps=3)
    probe = Instruments(_probe(), seed=cfg.seed)
    _fit(cfg, probe)
    row = _matrices(probe)["l0"][0]
    assert row.shape == (12,)
    # exactly zero by construction: no gradient reaches the steps before the window
    assert np.all(row[:8] == 0) and np.all(row[8:] > 0)


@pytest.mark.parametrize("steps,want", [(1, [0]), (2, [1]), (3, [2]), (4, [3]), (5, [3, 4])])
def test_issue21_item4_sequence_cut_off_by_max_steps_keeps_its_probe(steps, want):
    """charlm seq_len 12, k=3: 4 updates a sequence. The probe asked for at step 0 is taken at
    the sequence's last update, or at the run's last step if max_steps cuts the sequence off
    (before the fix: no probe at all for max_steps < 4)."""
    cfg = _cfg("rnn", steps=steps, k=3)
    probe = Instruments(_probe(), seed=cfg.seed)
    _fit(cfg, probe)
    assert probe.steps["gradtime"] == want
    assert set(probe.rows["propagation"]) == {"l0"} and set(probe.rows["lyapunov"]) == {"l0"}
    rows = _matrices(probe)["l0"]  # every row spans the sequence: zero outside its window
    assert rows.shape == (len(want), 12) and np.all(np.isfinite(rows))
    for row, step in zip(rows, want, strict=True):
        a = 3 * (step % 4)  # the window (a, a + 3) of update step % 4 of its sequence
        inside = np.zeros(12, dtype=bool)
        inside[a : a + 3] = True
        # exactly zero by construction outside the window: no gradient of the update there
        assert np.all(row[~inside] == 0) and np.all(row[inside] > 0)


def test_issue21_item4_short_per_window_run_records_its_artifacts(store):
    """The issue's run: charlm seq_len 12, k=3, per_window, probe.every 1, max_steps 3."""
    from mlflow.tracking import MlflowClient

    from rnnstudy.runner import run_one

    cfg = _cfg("rnn", steps=3, k=3, probe__every=1)
    res = run_one(cfg, experiment="pw_short", progress=False)
    c = MlflowClient(store)
    names = {
        f.path
        for d in ("gradtime", "propagation", "lyapunov")
        for f in c.list_artifacts(res.run_id, d)
    }
    assert {"gradtime/l0.npz", "propagation/l0.npz", "lyapunov/l0.npz"} <= names
    assert c.list_artifacts(res.run_id, "figures")
    z = np.load(c.download_artifacts(res.run_id, "lyapunov/l0.npz"))
    assert list(z["steps"]) == [2]
