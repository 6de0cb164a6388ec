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
precomputed in place of the gates as time-major (L, B, ·) tensors, and the loop over t only does
one (B, G·H) x (G·H, H) matmul and a few elementwise ops per step, into preallocated buffers. A
probe step costs about 1.5x a training step and little more memory (``BENCHMARKS.md``). Tests
check the result against autograd on an explicitly unrolled loop (``tests/test_gradtime.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnstudy.models.cells import layer_params

CHUNK = 32  # time steps whose coefficients are held at once (vanilla RNN and GRU)


def _chunks(L: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering 0..L in CHUNK-sized blocks, last block first."""
    return [(a, min(a + CHUNK, L)) for a in range((L - 1) // CHUNK * CHUNK, -1, -CHUNK)]


def _prev(hs: Tensor, h0: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
    """h_{t-1} for t in [start, stop), time-major: (stop - start, B, H), h0 at t=0 (a fresh
    contiguous tensor)."""
    ht = hs.transpose(0, 1)
    stop = ht.shape[0] if stop is None else stop
    if start == 0:
        return torch.cat([h0.unsqueeze(0), ht[: stop - 1]], dim=0)
    return ht[start - 1 : stop - 1].clone(memory_format=torch.contiguous_format)  # never a view


def _pre(x: Tensor, w: Tensor, b: Tensor, time_major: bool = False) -> Tensor:
    """x_t W^T + b for every t, as a contiguous time-major (L, B, G) tensor.

    x is (B, L, I), or already (L, B, I) when ``time_major``."""
    xt = x if time_major else x.transpose(0, 1)
    L, B = xt.shape[:2]
    return torch.addmm(b, xt.reshape(L * B, -1), w.T).view(L, B, -1)


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

    Speed and memory: everything per-t is stored time-major (L, B, ·) so that each step of the
    backward loop reads and writes contiguous (B, ·) blocks, the loop writes into preallocated
    buffers (``out=``) instead of allocating, and the gate tensors are turned into the
    Jacobian coefficients in place. The vanilla RNN and the GRU need no forward recurrence,
    so their coefficients are built CHUNK time steps at a time, going backwards (small blocks
    that reuse the memory the backward pass just freed); the LSTM needs c_t for every t first.
    """
    B, L, H = hs.shape
    w_hh = p["weight_hh"]
    gt = g.transpose(0, 1)  # (L, B, H) view: gt[t] is the immediate gradient at step t
    carry = torch.zeros_like(h0)
    tmp = torch.empty_like(h0)
    if cell == "rnn":
        dh_all = hs.new_empty(L, B, H)
        for start, stop in _chunks(L):
            ht = hs.transpose(0, 1)[start:stop]
            if nonlinearity == "tanh":
                d = torch.mul(ht, ht).neg_().add_(1)  # 1 - h_t²
            else:
                d = (ht > 0).to(hs.dtype).contiguous()
            for t in range(stop - 1, start - 1, -1):
                dh = torch.add(gt[t], carry, out=dh_all[t])
                torch.mm(torch.mul(dh, d[t - start], out=tmp), w_hh, out=carry)
        return {"h": dh_all.transpose(0, 1)}
    if cell == "lstm":
        c0 = c0 if c0 is not None else torch.zeros_like(h0)
        gates = _lstm_gates(p, x, hs, h0)  # block-major (4, L, B, H): σ(i), σ(f), tanh(g), σ(o)
        i, f, gg, o = gates.unbind(0)
        cs = torch.mul(i, gg)  # i_t g_t, then c_t = f_t c_{t-1} + i_t g_t in place
        cs[0].addcmul_(f[0], c0)
        for t in range(1, L):
            cs[t].addcmul_(f[t], cs[t - 1])
        fk = f.clone()  # σ(f_t) = ∂c_t/∂c_{t-1}
        # the gate blocks become ∂h_t/∂(W_hh h_{t-1} + b), block i, f, g (times dc), o (times dh)
        f.addcmul_(f, f, value=-1)  # σ' = σ - σ²
        f[0].mul_(c0)
        f[1:].mul_(cs[:-1])  # ... times c_{t-1}
        tc = cs.tanh_()  # c_t is no longer needed: tanh c_t in its place
        a = torch.mul(tc, tc).neg_().add_(1).mul_(o)  # ∂h_t/∂c_t = o (1 - tanh² c_t)
        o.addcmul_(o, o, value=-1).mul_(tc)
        ci = torch.addcmul(i, i, i, value=-1, out=tc).mul_(gg)  # tanh c_t is no longer needed
        gg.mul_(gg).neg_().add_(1).mul_(i)
        i.copy_(ci)
        del cs, tc, ci
        dh_all, dc_all = torch.empty_like(a), torch.empty_like(a)
        carry_c = torch.zeros_like(h0)
        dpre = hs.new_empty(B, 4, H)
        dp = dpre.transpose(0, 1)  # (4, B, H) view of the (B, 4H) row block
        for t in range(L - 1, -1, -1):
            dh = torch.add(gt[t], carry, out=dh_all[t])
            dc = torch.addcmul(carry_c, dh, a[t], out=dc_all[t])
            torch.mul(gates[:3, t], dc, out=dp[:3])
            torch.mul(gates[3, t], dh, out=dp[3])
            torch.mm(dpre.view(B, 4 * H), w_hh, out=carry)
            torch.mul(dc, fk[t], out=carry_c)
        return {"h": dh_all.transpose(0, 1), "c": dc_all.transpose(0, 1)}
    if cell == "gru":
        dh_all = hs.new_empty(L, B, H)
        dpre = hs.new_empty(B, 3, H)
        for start, stop in _chunks(L):
            z, coef = _gru_coefficients(p, x[:, start:stop], _prev(hs, h0, start, stop))
            for t in range(stop - 1, start - 1, -1):
                dh = torch.add(gt[t], carry, out=dh_all[t])
                torch.mul(coef[t - start], dh.unsqueeze(1), out=dpre)
                torch.addmm(
                    torch.mul(dh, z[t - start], out=tmp), dpre.view(B, 3 * H), w_hh, out=carry
                )
        return {"h": dh_all.transpose(0, 1)}
    raise ValueError(f"unknown cell {cell!r}")


def _lstm_gates(p: dict[str, Tensor], x: Tensor, hs: Tensor, h0: Tensor) -> Tensor:
    """The LSTM's gate activations for every t, block-major (4, L, B, H): each gate a
    contiguous (L, B, H) tensor, so the activations and the coefficients run on contiguous
    memory. x: (B, L, I), hs: (B, L, H), h0: (B, H)."""
    B, L, H = hs.shape
    w_ih, w_hh, bias = p["weight_ih"], p["weight_hh"], p["bias_ih"] + p["bias_hh"]
    xs = x.transpose(0, 1).reshape(L * B, -1)
    hp = hs.transpose(0, 1)[: L - 1].reshape((L - 1) * B, H)  # h_{t-1}, t >= 1 (often a view)
    gates = hs.new_empty(4, L, B, H)
    for k in range(4):
        rows, blk = slice(k * H, (k + 1) * H), gates[k].view(L * B, H)
        torch.addmm(bias[rows], xs, w_ih[rows].T, out=blk)
        blk[:B].addmm_(h0, w_hh[rows].T)
        blk[B:].addmm_(hp, w_hh[rows].T)
    gates[:2].sigmoid_()
    gates[2].tanh_()
    gates[3].sigmoid_()
    return gates


def _gru_coefficients(p: dict[str, Tensor], x: Tensor, hprev: Tensor) -> tuple[Tensor, Tensor]:
    """For a block of n steps (x: (B, n, I), hprev: (n, B, H) time-major, overwritten):
    the update gate z (n, B, H) and ∂h_t/∂(W_hh h_{t-1} + b_hh) per gate block r, z, n as
    (n, B, 3, H)."""
    n_, B, H = hprev.shape
    gi = _pre(x, p["weight_ih"], p["bias_ih"])  # (n, B, 3H)
    gh = _pre(hprev, p["weight_hh"], p["bias_hh"], time_major=True)
    ir, iz, in_ = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r = ir.add_(hr).sigmoid_()
    z = iz.add_(hz).sigmoid_()
    n = in_.addcmul_(r, hn).tanh_()
    cn = torch.mul(n, n).neg_().add_(1)
    cn.addcmul_(cn, z, value=-1)  # ∂h/∂n_pre = (1 - z)(1 - n²)
    # gh becomes the coefficients, in place
    hr.copy_(r).addcmul_(r, r, value=-1).mul_(hn).mul_(cn)  # ∂h/∂r_pre = cn hn r (1 - r)
    hz.copy_(z).addcmul_(z, z, value=-1).mul_(hprev.sub_(n))  # (h_{t-1} - n) z (1 - z)
    torch.mul(cn, r, out=hn)
    return z, gh.view(n_, B, 3, H)


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


def example_norms(grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """L2 norm over hidden units per example and time step: {key: (B, L)}."""
    return {k: torch.linalg.vector_norm(v, dim=-1) for k, v in grads.items()}


def reduce_norms(grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """L2 norm over hidden units per example, then mean over the batch: {key: (L,)}."""
    return {k: v.mean(dim=0) for k, v in example_norms(grads).items()}
