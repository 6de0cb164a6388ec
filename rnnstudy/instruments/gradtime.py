"""Exact per-time-step BPTT gradients ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for LSTM) for fused layers.

Why not ``retain_grad()``: on the output of a fused ``nn.LSTM`` it gives only the *immediate*
part of ∂L/∂h_t (from the layer above or the head at step t); the part that flows back through
the recurrence stays inside the fused kernel. Unrolling the whole network in Python to read the
total gradient costs ~5x a training step.

What we do instead: autograd already gives, for every layer, the immediate gradient G_t (a hook
on each layer's output sequence during the normal ``backward()``). The total gradient obeys the
linear recurrence

    δh_t = G_t + J_{t+1}^T δh_{t+1}        (δc_t too, for LSTM)

where J_{t+1} is the step Jacobian. All gate activations are recomputed for every t at once (one
batched matmul, since h_{t-1} is known from the forward pass), the Jacobian coefficients are
precomputed as (B, L, ·) tensors, and the loop over t only does one (B, G·H) x (G·H, H) matmul
and a few elementwise ops per step. Tests check the result against autograd on an explicitly
unrolled loop (``tests/test_gradtime.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnstudy.models.cells import layer_params


def _shift(hs: Tensor, h0: Tensor) -> Tensor:
    """h_{t-1} for every t: (B, L, H) with h0 at t=0."""
    return torch.cat([h0.unsqueeze(1), hs[:, :-1]], dim=1)


def _pre(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w.T).view(x.shape[0], x.shape[1], -1)


@torch.no_grad()
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
    """Total ∂L/∂h_t (and ∂L/∂c_t) for one direction of one layer, in processing order.

    x: (B, L, I) layer input; hs: (B, L, H) layer output; g: (B, L, H) immediate gradient of
    the loss w.r.t. hs; h0 / c0: (B, H) initial state. Returns {"h": (B, L, H), "c": ...}.
    """
    B, L, H = hs.shape
    w_hh = p["weight_hh"]
    hprev = _shift(hs, h0)
    dh_all = torch.empty_like(hs)
    if cell == "rnn":
        d = 1 - hs * hs if nonlinearity == "tanh" else (hs > 0).to(hs.dtype)
        carry = torch.zeros_like(h0)
        for t in range(L - 1, -1, -1):
            dh = g[:, t] + carry
            dh_all[:, t] = dh
            carry = (dh * d[:, t]) @ w_hh
        return {"h": dh_all}
    if cell == "lstm":
        pre = _pre(x, p["weight_ih"], p["bias_ih"] + p["bias_hh"]) + _pre(hprev, w_hh, torch.zeros_like(p["bias_hh"]))
        i, f, gg, o = pre.chunk(4, dim=-1)
        i, f, gg, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(gg), torch.sigmoid(o)
        ig = i * gg
        cs = torch.empty_like(hs)
        c = c0 if c0 is not None else torch.zeros_like(h0)
        for t in range(L):
            c = torch.addcmul(ig[:, t], f[:, t], c)
            cs[:, t] = c
        cprev = _shift(cs, c0 if c0 is not None else torch.zeros_like(h0))
        tc = torch.tanh(cs)
        a = o * (1 - tc * tc)  # ∂h_t/∂c_t
        coef = torch.cat([gg * i * (1 - i), cprev * f * (1 - f), i * (1 - gg * gg), tc * o * (1 - o)], -1)
        dc_all = torch.empty_like(hs)
        carry_h = torch.zeros_like(h0)
        carry_c = torch.zeros_like(h0)
        for t in range(L - 1, -1, -1):
            dh = g[:, t] + carry_h
            dc = torch.addcmul(carry_c, dh, a[:, t])
            dh_all[:, t] = dh
            dc_all[:, t] = dc
            dpre = torch.cat([dc, dc, dc, dh], -1) * coef[:, t]
            carry_h = dpre @ w_hh
            carry_c = dc * f[:, t]
        return {"h": dh_all, "c": dc_all}
    if cell == "gru":
        gi = _pre(x, p["weight_ih"], p["bias_ih"])
        gh = _pre(hprev, w_hh, p["bias_hh"])
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        cn = (1 - z) * (1 - n * n)  # ∂h/∂n_pre
        cz = (hprev - n) * z * (1 - z)  # ∂h/∂z_pre
        cr = cn * hn * r * (1 - r)  # ∂h/∂r_pre
        coef = torch.cat([cr, cz, cn * r], -1)  # ∂h/∂(W_hh h + b_hh), per gate block
        carry = torch.zeros_like(h0)
        for t in range(L - 1, -1, -1):
            dh = g[:, t] + carry
            dh_all[:, t] = dh
            carry = torch.addmm(dh * z[:, t], dh.repeat(1, 3) * coef[:, t], w_hh)
        return {"h": dh_all}
    raise ValueError(f"unknown cell {cell!r}")


def _init_state(state, direction: int, B: int, H: int, like: Tensor):
    if state is None:
        z = like.new_zeros(B, H)
        return z, z
    if isinstance(state, tuple):
        return state[0][direction], state[1][direction]
    return state[direction], None


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
    for li, layer in enumerate(model.layers):
        x, hs, g = inputs[li], outputs[li], grads[li]
        if g is None:
            g = torch.zeros_like(hs)
        st = None if state0 is None else state0[li]
        for d in range(model.directions):
            rev = d == 1
            p = layer_params(layer, reverse=rev)
            sl = slice(d * H, (d + 1) * H)
            xs, hsd, gd = x, hs[..., sl], g[..., sl]
            if rev:
                xs, hsd, gd = xs.flip(1), hsd.flip(1), gd.flip(1)
            h0, c0 = _init_state(st, d, hs.shape[0], H, hs)
            res = direction_grads(model.cell, p, xs, hsd, gd, h0, c0, model.cfg.nonlinearity)
            key = f"l{li}" + ("_reverse" if rev else "")
            for name, val in res.items():
                val = val.flip(1) if rev else val
                out[key if name == "h" else f"{key}_c"] = val
    return out


def reduce_norms(grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """L2 norm over hidden units per example, then mean over the batch: {key: (L,)}."""
    return {k: v.norm(dim=-1).mean(dim=0) for k, v in grads.items()}
