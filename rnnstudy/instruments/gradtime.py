"""Exact per-time-step BPTT gradients ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for LSTM) for fused layers, and
in the same pass the loss-independent propagation of random unit vectors (the propagation
profile, ``rnnstudy.instruments.propagation``).

Why not ``retain_grad()``: on the output of a fused ``nn.LSTM`` it gives only the *immediate*
part of ∂L/∂h_t (from the layer above or the head at step t); the part that flows back through
the recurrence stays inside the fused kernel. Unrolling the whole network in Python to read the
total gradient costs ~5x a training step.

What we do instead: autograd already gives, for every layer, the immediate gradient G_t (a hook
on each layer's output sequence during the normal ``backward()``). The total gradient obeys the
linear recurrence

    δs_t = G_t + J_{t+1}^T δs_{t+1}        (s = h, or (h, c) for the LSTM)

with the step Jacobians of ``rnnstudy.instruments.jacobians``. The loop over t does one
(R·B, G·H) x (G·H, H) matmul and a few elementwise ops per step, into preallocated chunk
buffers. R is the number of *rows*: row 0 carries the loss gradient; an optional propagation
row carries, per example b, a random unit vector u_b injected at that example's source step
s_b and nothing else (no loss), so its norm at step t is ‖u_bᵀ ∂s_{s_b}/∂s_t‖. Both rows share
the coefficients and the Python loop. Tests check the result against autograd on an explicitly
unrolled loop (``tests/test_gradtime.py``, ``tests/test_propagation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnstudy.instruments.base import Instrument, Metrics, Rows, finite, pad_rows
from rnnstudy.instruments.jacobians import (
    chunks,
    gru_coefficients,
    lstm_coefficients,
    prev_states,
    rnn_coefficients,
)
from rnnstudy.instruments.summaries import summarise
from rnnstudy.models.cells import layer_params

CHUNK = 32  # time steps per block of coefficients and of the backward loop's buffers


@dataclass
class Injection:
    """Unit vectors to propagate: ``u`` (B, S) (S = H, or 2H for the LSTM: h part then c part)
    injected at the source step ``src`` (B,) of each example (processing order)."""

    u: Tensor
    src: Tensor

    def at(self) -> dict[int, Tensor]:
        """{step: indices of the examples whose source is that step}."""
        steps = self.src.tolist()
        out: dict[int, list[int]] = {}
        for b, s in enumerate(steps):
            out.setdefault(int(s), []).append(b)
        return {s: torch.tensor(bs, device=self.u.device) for s, bs in out.items()}


@torch.no_grad()
def direction_backward(
    cell: str,
    p: dict[str, Tensor],
    x: Tensor,
    hs: Tensor,
    g: Tensor | None,
    h0: Tensor,
    c0: Tensor | None = None,
    nonlinearity: str = "tanh",
    inject: Injection | None = None,
    keep: bool = True,
) -> dict[str, Tensor]:
    """One direction of one layer, in processing order. x: (B, L, I) layer input; hs: (B, L, H)
    layer output; g: (B, L, H) immediate gradient of the loss w.r.t. hs, or None; h0 / c0: (B, H)
    initial state.

    Returns, when g is given, {"h_norm": (B, L) ‖∂L/∂h_t‖ per example, "c_norm": ... (LSTM)}
    and, with ``keep``, the vectors themselves {"h": (B, L, H), "c": ...}; when ``inject`` is
    given, "prop": (B, L) the norm of the propagated full state vector at every step (0 after
    the example's source step, 1 at it).

    Speed: the per-step inputs (G_t, the injected vectors) are written into the chunk buffer
    first, so each step only adds the carried term in place (``addmm_``): 5 ops a step for the
    LSTM, 2 for the vanilla RNN, 3 for the GRU, whatever R.
    """
    if cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"unknown cell {cell!r}")
    B, L, H = hs.shape
    R = (g is not None) + (inject is not None)
    out: dict[str, Tensor] = {}
    if R == 0:
        return out
    w_hh = p["weight_hh"]
    gr = 0 if g is not None else None  # row of the loss gradient
    pr = R - 1 if inject is not None else None  # row of the propagated vectors
    lstm = cell == "lstm"
    blocks = chunks(L, size=CHUNK)
    C = min(L, CHUNK)
    # adjoint of h_t per step of the current chunk (all rows); slot C carries what the first
    # step of a chunk hands to the chunk before (so slot i - 1 is "the next" for every i)
    sh = hs.new_empty(C + 1, R, B, H)
    sh_l, shv = sh.unbind(0), [v.view(R * B, H) for v in sh.unbind(0)]
    norms: dict[str, Tensor] = {}
    if gr is not None:
        gt = g.transpose(0, 1)  # (L, B, H) view
        norms["h_norm"] = hs.new_empty(L, B)
        if keep:
            dh_all = hs.new_empty(L, B, H)
    if pr is not None:
        sources = inject.at()
        uh, uc = (inject.u[:, :H], inject.u[:, H:]) if lstm else (inject.u, None)
        norms["prop"] = hs.new_empty(L, B)
    if lstm:
        c0 = c0 if c0 is not None else torch.zeros_like(h0)
        k, a, fk = lstm_coefficients(p, x, hs, h0, c0, chunk=CHUNK)
        sc = hs.new_empty(C + 1, R, B, H)  # adjoint of the state c_t (from step t+1 only)
        sdc = hs.new_empty(C, R, B, H)  # total ∂/∂c_t (also through h_t)
        sc_l, sdc_l = sc.unbind(0), sdc.unbind(0)
        dpre = hs.new_empty(R, B, 4, H)
        dflat = dpre.view(R * B, 4 * H)
        dp = dpre.permute(2, 0, 1, 3)  # (4, R, B, H) view
        dp3, dpo = dp[:3], dp[3]
        if gr is not None:
            norms["c_norm"] = hs.new_empty(L, B)
            if keep:
                dc_all = hs.new_empty(L, B, H)
    elif cell == "gru":
        dpre = hs.new_empty(R, B, 3, H)
        dflat = dpre.view(R * B, 3 * H)
    else:
        tmp = hs.new_empty(R, B, H)
        tflat = tmp.view(R * B, H)
    first = True
    for start, stop in blocks:
        n = stop - start
        # the per-step inputs: G_t in the gradient row, u at the source steps in the other
        if gr is not None:
            sh[:n, gr].copy_(gt[start:stop])
        if lstm:
            sc[:n].zero_()  # no loss term on c_t: only u's c part, at source steps
        if pr is not None:
            sh[:n, pr].zero_()
            for t in range(start, stop):
                if t in sources:
                    idx = sources[t]
                    sh[t - start, pr].index_add_(0, idx, uh[idx])
                    if lstm:
                        sc[t - start, pr].index_add_(0, idx, uc[idx])
        if not first:
            sh[n - 1].add_(sh[C])
            if lstm:
                sc[n - 1].add_(sc[C])
        first = False
        sh[C].zero_()
        if lstm:
            sc[C].zero_()
            a_l, fk_l = a[start:stop].unbind(0), fk[start:stop].unbind(0)
            k3_l = k[:3, start:stop].unsqueeze(2).unbind(1)  # (3, 1, B, H) per step
            ko_l = k[3, start:stop].unbind(0)
            for i in range(n - 1, -1, -1):
                dh = sh_l[i]
                dc = torch.addcmul(sc_l[i], dh, a_l[i], out=sdc_l[i])
                torch.mul(k3_l[i], dc, out=dp3)
                torch.mul(ko_l[i], dh, out=dpo)
                shv[i - 1].addmm_(dflat, w_hh)  # slot -1 is the carry slot C
                sc_l[i - 1].addcmul_(dc, fk_l[i])
        elif cell == "rnn":
            d = rnn_coefficients(hs, start, stop, nonlinearity).unbind(0)
            for i in range(n - 1, -1, -1):
                torch.mul(sh_l[i], d[i], out=tmp)
                shv[i - 1].addmm_(tflat, w_hh)
        else:
            z, coef = gru_coefficients(p, x[:, start:stop], prev_states(hs, h0, start, stop))
            z, coef = z.unbind(0), coef.unbind(0)
            for i in range(n - 1, -1, -1):
                dh = sh_l[i]
                torch.mul(coef[i], dh.unsqueeze(2), out=dpre)
                sh_l[i - 1].addcmul_(dh, z[i])
                shv[i - 1].addmm_(dflat, w_hh)
        if gr is not None:
            torch.linalg.vector_norm(sh[:n, gr], dim=-1, out=norms["h_norm"][start:stop])
            if keep:
                dh_all[start:stop].copy_(sh[:n, gr])
            if lstm:
                torch.linalg.vector_norm(sdc[:n, gr], dim=-1, out=norms["c_norm"][start:stop])
                if keep:
                    dc_all[start:stop].copy_(sdc[:n, gr])
        if pr is not None:
            torch.linalg.vector_norm(sh[:n, pr], dim=-1, out=norms["prop"][start:stop])
            if lstm:
                norms["prop"][start:stop].hypot_(torch.linalg.vector_norm(sc[:n, pr], dim=-1))
    out = {name: v.T for name, v in norms.items()}
    if gr is not None and keep:
        out["h"] = dh_all.transpose(0, 1)
        if lstm:
            out["c"] = dc_all.transpose(0, 1)
    return out


def direction_grads(
    cell: str,
    p: dict[str, Tensor],
    x: Tensor,
    hs: Tensor,
    g: Tensor,
    h0: Tensor,
    c0: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> dict[str, Tensor]:
    """Total ∂L/∂h_t (and ∂L/∂c_t) for one direction of one layer, in processing order:
    {"h": (B, L, H), "c": ...}. See ``direction_backward``."""
    res = direction_backward(cell, p, x, hs, g, h0, c0, nonlinearity)
    return {name: v for name, v in res.items() if name in ("h", "c")}


def init_state(state, direction: int, B: int, H: int, like: Tensor):
    """(h0, c0) of one direction from a layer's initial state (None: zeros; c0 None if no c)."""
    if state is None:
        z = like.new_zeros(B, H)
        return z, z
    if isinstance(state, tuple):
        return state[0][direction], state[1][direction]
    return state[direction], None


def _network_initial_state(model, batch: int) -> list | None:
    """The model's initial state, detached (None: zeros, or a model without the method)."""
    build = getattr(model, "initial_state", None)
    state = None if build is None else build(batch)
    if state is None:
        return None
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


def directions(model, inputs: list[Tensor], outputs: list[Tensor], state0=None):
    """Per layer and direction, in processing order: (key, params, x, hs, h0, c0, reverse, li)
    with key ``l0``, ``l0_reverse``, ``l1``, ...; x, hs flipped in time for a reverse
    direction. hs is that direction's slice of the layer output. ``state0`` None: the sequence
    started from the network's own initial state (``RecurrentNet.initial_state``: zeros, or
    the learned h_0, c_0)."""
    H = model.cfg.hidden_size
    if state0 is None:
        state0 = _network_initial_state(model, outputs[0].shape[0])
    for li, layer in enumerate(model.layers):
        x, hs = inputs[li], outputs[li]
        st = None if state0 is None else state0[li]
        for d in range(model.directions):
            rev = d == 1
            p = layer_params(layer, reverse=rev)
            hsd = hs[..., d * H : (d + 1) * H]
            xs = x.flip(1) if rev else x
            hsd = hsd.flip(1) if rev else hsd
            h0, c0 = init_state(st, d, hs.shape[0], H, hs)
            key = f"l{li}" + ("_reverse" if rev else "")
            yield key, p, xs, hsd, h0, c0, rev, li


@torch.no_grad()
def layer_grads(
    model, inputs: list[Tensor], outputs: list[Tensor], grads: list[Tensor], state0=None
) -> dict[str, Tensor]:
    """Total per-time-step gradients for every layer and direction of a ``RecurrentNet``.

    inputs/outputs: what ``Forward`` recorded; grads: the immediate gradient of the loss w.r.t.
    each layer's output (None where no gradient reached it). Returns {key: (B, L, H)} with keys
    ``l0``, ``l0_c`` (LSTM cell state), ``l0_reverse``, ``l0_reverse_c``, ``l1``, ... in
    *original* time order.
    """
    out: dict[str, Tensor] = {}
    H = model.cfg.hidden_size
    for key, p, xs, hsd, h0, c0, rev, li in directions(model, inputs, outputs, state0):
        g = grads[li]
        d = 1 if rev else 0
        gd = torch.zeros_like(hsd) if g is None else g[..., d * H : (d + 1) * H]
        gd = gd.flip(1) if rev else gd
        res = direction_backward(model.cell, p, xs, hsd, gd, h0, c0, model.cfg.nonlinearity)
        for name in ("h", "c"):
            if name in res:
                val = res[name].flip(1) if rev else res[name]
                out[key if name == "h" else f"{key}_c"] = val
    return out


def example_norms(grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """L2 norm over hidden units per example and time step: {key: (B, L)}."""
    return {k: torch.linalg.vector_norm(v, dim=-1) for k, v in grads.items()}


def reduce_norms(grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """L2 norm over hidden units per example, then mean over the batch: {key: (L,)}."""
    return {k: v.mean(dim=0) for k, v in example_norms(grads).items()}


class GradTime(Instrument):
    """Instrument ``gradtime``: on the probe schedule, for every layer and direction, the exact
    per-time-step gradient norms of the probe (DESIGN §4), their summaries
    (``gradtime/<key>/...``, ``meta["source"]`` as the first informative step) and the matrix
    probe x time step of batch means as ``gradtime/<key>.npz`` (norms, time). Switch:
    ``probe.enabled``."""

    name = "gradtime"
    needs = frozenset({"windows", "probe"})

    @classmethod
    def from_config(cls, cfg: Any) -> GradTime | None:
        p = cfg.probe
        return cls(p.every, p.log_spaced_early) if p.enabled else None

    def measure(self, record: Any) -> tuple[Metrics, Rows | None]:
        source = record.batch.meta.get("source")
        src = None if source is None else source.detach().cpu().numpy()
        metrics: Metrics = {}
        rows: Rows = {}
        for k, per_example in record.probe.grad_norms.items():  # (B, L)
            rows[k] = per_example.mean(axis=0)
            summary = summarise(per_example, reverse="_reverse" in k, source=src)
            metrics.update({f"gradtime/{k}/{name}": v for name, v in summary.items()})
        return finite(metrics), rows

    def write(self, steps: np.ndarray, rows: dict[str, list[np.ndarray]]) -> dict[str, Rows]:
        out = {}
        for k, r in rows.items():
            mat = pad_rows(r)
            out[k] = {"norms": mat, "time": np.arange(mat.shape[1])}
        return out
