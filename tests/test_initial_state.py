"""``model.initial_state: learned`` (Arjovsky et al. 2016's h_0, state_0): at step 0 the same
network as ``zero``; the h_0 (and c_0) parameters get gradient and move; the forward pass, the
first TBPTT window and the instruments (per-time-step gradient, credit, propagation profile,
Lyapunov exponents) all start from it, checked against autograd on an explicitly unrolled
float64 loop started from the same random h_0, c_0.

What the oracle tests can catch: the instruments read h_t from the forward pass, so a wrong
initial state in them shows where they recompute from it: the LSTM's cell states (c_0, in the
gradient, credit, propagation and exponents) and the first step Jacobian J_0 of the GRU and the
LSTM (exponents). A tanh RNN's step Jacobians depend on h_t alone. Checked when written: with
the instruments starting from 0 instead, 6 of those cases fail (LSTM gradient/credit, LSTM and
GRU propagation/exponents), the rest pass."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.autograd.functional import jacobian

from rnnstudy.config import ConfigError, ModelConfig, parse_run
from rnnstudy.instruments import credit
from rnnstudy.instruments.lyapunov import EXAMPLES
from rnnstudy.instruments.probe import run_probe
from rnnstudy.instruments.propagation import injection
from rnnstudy.metrics import loss_sum
from rnnstudy.models import RecurrentNet, param_label
from rnnstudy.models.cells import layer_params, step
from rnnstudy.module import SequenceModule
from rnnstudy.resume import config_hash
from rnnstudy.runner import run_one
from rnnstudy.tasks import build_task
from tests.oracle import oracle_lyapunov, oracle_profile, unrolled_forward

TASK = {"name": "delayed_recall", "d_min": 2, "d_max": 9, "n_buckets": 3}


def _run_cfg(cell: str, mode: str, layers: int = 1, bi: bool = False, task=None, **train):
    return parse_run(
        {
            "task": task or TASK,
            "model": {
                "cell": cell,
                "hidden_size": 4,
                "num_layers": layers,
                "bidirectional": bi,
                "initial_state": mode,
            },
            "train": {"precision": "64", **train},
        }
    )


def _module(cfg, seed: int = 0) -> SequenceModule:
    torch.manual_seed(seed)
    return SequenceModule(cfg, build_task(cfg.task)).double()


def _randomise(model: RecurrentNet, seed: int = 5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("h0.", "c0.")):
                p.copy_(0.8 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def test_bad_value_is_a_one_line_parse_error():
    with pytest.raises(ConfigError) as err:
        parse_run({"model": {"initial_state": "random"}})
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("model.initial_state: Input should be 'zero' or 'learned'")


def test_zero_dumps_as_before_the_field_existed_and_adds_no_parameter():
    """A config at the default dumps without the field, so its config_hash (how resume and the
    studies find stored runs) and its logged params are the ones of before."""
    assert "initial_state" not in ModelConfig().model_dump()
    assert ModelConfig(initial_state="learned").model_dump()["initial_state"] == "learned"
    zero, learned = _run_cfg("lstm", "zero"), _run_cfg("lstm", "learned")
    assert config_hash(zero) != config_hash(learned)
    names = [n for n, _ in _module(zero).model.named_parameters()]
    assert not any(n.startswith(("h0", "c0")) for n in names)
    extra = {n for n, _ in _module(learned).model.named_parameters()} - set(names)
    assert extra == {"h0.0", "c0.0"}
    assert [param_label(n) for n in sorted(extra)] == ["c0_l0", "h0_l0"]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,bi", [(1, False), (2, True)])
def test_learned_equals_zero_at_step_0(cell, layers, bi):
    """Same seed: the same weights (h_0 = 0 draws nothing), the same outputs, the same loss and
    parameter gradients, and the same per-time-step gradient norms."""
    zero = _module(_run_cfg(cell, "zero", layers, bi))
    learned = _module(_run_cfg(cell, "learned", layers, bi))
    for p in learned.model.h0:
        assert p.shape == (2 if bi else 1, 1, 4) and not p.any()
    batch = zero.task.generate(3, 6)
    results = []
    for m in (zero, learned):
        loss, wins = m.forward_capture(batch)
        loss.backward()
        probe = run_probe(m.model, wins, torch.Generator().manual_seed(0))
        grads = {n: p.grad for n, p in m.model.named_parameters()}
        results.append((float(loss.detach()), probe.grad_norms, grads))
    (l0, n0, g0), (l1, n1, g1) = results
    assert l1 == pytest.approx(l0, rel=1e-12)
    assert set(n0) == set(n1)
    for k in n0:
        np.testing.assert_allclose(n1[k], n0[k], rtol=1e-10, atol=1e-300)
    for name, g in g0.items():
        torch.testing.assert_close(g1[name], g, rtol=1e-10, atol=1e-14)
    assert all(float(g1[f"h0.{i}"].abs().max()) > 0 for i in range(layers))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_h0_gets_gradient_and_moves_under_training(cell):
    """Five Lightning steps (Adam 3e-3): every learned initial state has moved off 0."""
    seen: dict[str, torch.Tensor] = {}

    class Keep(pl.Callback):
        def on_train_end(self, trainer, pl_module):
            for n, p in pl_module.model.named_parameters():
                if n.startswith(("h0", "c0")):
                    seen[n] = p.detach().clone()

    cfg = parse_run(
        {
            "task": TASK,
            "model": {"cell": cell, "hidden_size": 6, "num_layers": 2, "initial_state": "learned"},
            "train": {"max_steps": 5, "batch_size": 8, "val_every": 5, "val_size": 16},
            "probe": {"every": 2},
        }
    )
    run_one(cfg, callbacks=[Keep()], progress=False)
    want = {"h0.0", "h0.1"} | ({"c0.0", "c0.1"} if cell == "lstm" else set())
    assert set(seen) == want
    for n, v in seen.items():
        assert float(v.abs().min()) > 0, n  # Adam moves every coordinate with a gradient


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_first_tbptt_window_starts_from_h0(cell):
    """Per-sequence TBPTT on copy (a loss at every step): the forward values are those of the
    whole sequence (the state is carried), so the loss equals the untruncated one, from the
    learned h_0 (not from 0), and h_0 gets the first window's gradient, which differs from the
    untruncated one (later windows' losses no longer reach it)."""
    task = {"name": "copy", "A": 4, "K": 2, "d_min": 3, "d_max": 6}
    batch = _module(_run_cfg(cell, "zero", task=task)).task.generate(4, 6)
    losses, h0_grads = {}, {}
    for k in (None, 3):
        m = _module(_run_cfg(cell, "learned", task=task, tbptt=k))
        _randomise(m.model)
        loss = m.forward_loss(batch)
        loss.backward()
        losses[k], h0_grads[k] = float(loss.detach()), m.model.h0[0].grad
        assert float(h0_grads[k].abs().max()) > 0
    assert losses[3] == pytest.approx(losses[None], rel=1e-12)
    assert not torch.allclose(h0_grads[3], h0_grads[None], rtol=1e-6, atol=0)
    zero = _module(_run_cfg(cell, "zero", task=task))
    assert abs(float(zero.forward_loss(batch).detach()) - losses[None]) > 1e-6


def _state_of(model, li: int, d: int, B: int):
    s = model.initial_state(B)[li]
    return (s[0][d].detach(), s[1][d].detach()) if isinstance(s, tuple) else s[d].detach()


def _flat(state) -> torch.Tensor:
    return torch.cat(state, dim=-1) if isinstance(state, tuple) else state


def _jacobians(cell: str, p: dict, x: torch.Tensor, state) -> list[np.ndarray]:
    """J_t = ∂s_t/∂s_{t-1} (B, S, S) of one layer driven by ``x`` from ``state`` (autograd on
    one explicit cell step per example)."""
    B, L, _ = x.shape
    H = p["weight_hh"].shape[1]
    p = {n: t.detach() for n, t in p.items()}
    out = []
    for t in range(L):
        rows = []
        for b in range(B):
            xb = x[b : b + 1, t].detach()

            def f(s, xb=xb):
                st = (s[:H].unsqueeze(0), s[H:].unsqueeze(0)) if cell == "lstm" else s.unsqueeze(0)
                return _flat(step(cell, p, xb, st))[0]

            rows.append(jacobian(f, _flat(state)[b]).numpy())
        out.append(np.stack(rows))
        with torch.no_grad():
            state = step(cell, p, x[:, t].detach(), state)
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,bi", [(1, False), (2, True)])
def test_gradient_and_credit_match_the_unrolled_oracle_with_random_h0(cell, layers, bi):
    """h_0, c_0 random: per-example ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖) from the module's captured
    window and the probe equal autograd at every step of the unrolled loop started from the
    same state; the credit metrics equal the ones from the oracle's norms."""
    m = _module(_run_cfg(cell, "learned", layers, bi))
    _randomise(m.model)
    batch = m.task.generate(7, 6)
    loss, wins = m.forward_capture(batch)
    loss.backward()
    res = run_probe(m.model, wins, torch.Generator().manual_seed(0))
    x, B = batch.x.double(), len(batch)
    leaves: dict = {}
    with torch.no_grad():
        fused = m.model(x).out
    out = unrolled_forward(m.model, x, m.model.initial_state(B), leaves)
    torch.testing.assert_close(out, fused, rtol=1e-10, atol=1e-12)
    ref_loss = loss_sum(m.task, out, batch.y, batch.mask) / batch.mask.sum()
    assert float(ref_loss.detach()) == pytest.approx(float(loss.detach()), rel=1e-12)
    keys = sorted(leaves)
    grads = dict(zip(keys, torch.autograd.grad(ref_loss, [leaves[k] for k in keys]), strict=True))
    L = x.shape[1]
    oracle = {}
    for key in sorted({k for k, _ in keys}):
        oracle[key] = torch.stack([grads[(key, t)].norm(dim=-1) for t in range(L)], 1).numpy()
    assert set(res.grad_norms) == set(oracle)
    for key, want in oracle.items():
        np.testing.assert_allclose(res.grad_norms[key], want, rtol=1e-8, atol=1e-14)
    src, dist = batch.meta["source"].numpy(), batch.meta["distance"].numpy()
    edges = m.task.cfg.buckets()
    ours = credit.layer_credit(res.grad_norms, src, dist, edges)
    ref = credit.layer_credit(oracle, src, dist, edges)
    assert set(ours) == set(ref) and any("decay_per_step" in k for k in ours)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, rel=1e-8, abs=1e-14), k


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_propagation_and_lyapunov_match_the_oracle_with_random_h0(cell, layers):
    """ρ(k) and the top exponents from the probe (shared backward pass, one window from step 0)
    equal the numpy oracles on autograd step Jacobians of the trajectory started from the
    learned h_0, c_0; the random vectors are redrawn from a generator with the probe's seed in
    the probe's order (each layer's injection, then each layer's Lyapunov directions)."""
    m = _module(_run_cfg(cell, "learned", layers))
    _randomise(m.model)
    batch = m.task.generate(9, 10)
    loss, wins = m.forward_capture(batch)
    loss.backward()
    n_src, k = 3, 3
    res = run_probe(m.model, wins, torch.Generator().manual_seed(11), sources=n_src, lyapunov=k)
    w = wins[0]
    B, L = batch.x.shape[:2]
    S = 8 if cell == "lstm" else 4
    g = torch.Generator().manual_seed(11)
    like = w.outputs[0]
    injs = [injection(B, S, L, n_src, g, like) for _ in range(layers)]
    M = min(EXAMPLES, B)
    q0s = [
        torch.linalg.qr(torch.randn(M, S, k, generator=g, dtype=torch.float64))[0]
        for _ in range(layers)
    ]
    for li in range(layers):
        p = layer_params(m.model.layers[li])
        jacs = _jacobians(cell, p, w.inputs[li], _state_of(m.model, li, 0, B))
        inj = injs[li]
        want = oracle_profile(jacs, inj.u.numpy(), inj.src.numpy())
        np.testing.assert_allclose(res.rho[f"l{li}"], want, rtol=1e-8, atol=1e-14)
        lam = oracle_lyapunov([j[:M] for j in jacs], q0s[li].numpy())
        np.testing.assert_allclose(res.lyapunov[f"l{li}"], lam, rtol=1e-8, atol=1e-12)
