"""The step Jacobians of a fused recurrent layer, as per-step coefficient tensors.

Every instrument that looks inside the recurrence (per-time-step gradients, the propagation
profile, Lyapunov exponents) multiplies vectors by the step Jacobian J_t = ∂s_t/∂s_{t-1} of the
layer's state s_t (h_t for the vanilla RNN and the GRU, (h_t, c_t) for the LSTM), or by its
transpose. J_t is never formed: it is W_hh sandwiched between diagonal coefficients that depend
only on the forward pass (h_{t-1} and x_t are known), so all of them are computed for every t at
once (batched matmuls), time-major (L, B, ·):

* vanilla RNN: J_t = diag(d_t) W_hh with d_t = 1 - h_t² (tanh) or [h_t > 0] (relu);
* GRU (gate blocks r, z, n of W_hh): J_t = Σ_g diag(k_g,t) W_g + diag(z_t), with
  k_r = (1-z)(1-n²) · (W_hn h + b_hn) · r(1-r), k_z = (h_{t-1} - n) z(1-z), k_n = (1-z)(1-n²) r;
* LSTM (gate blocks i, f, g, o; P = W_hh δh_{t-1} split into blocks):
  δc_t = σ(f_t) δc_{t-1} + k_i P_i + k_f P_f + k_g P_g,  δh_t = k_o P_o + a_t δc_t, with
  k_i = σ'(i) g, k_f = σ'(f) c_{t-1}, k_g = i (1 - g²), k_o = σ'(o) tanh c_t and
  a_t = ∂h_t/∂c_t = o (1 - tanh² c_t); σ' = σ(1-σ) evaluated at the activation.

Example (vanilla tanh RNN, one unit, W_hh = [[2]]): h_t = 0.5 gives d_t = 0.75 and
J_t = 1.5, so a perturbation of h_{t-1} grows by 1.5 at step t.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 32  # time steps whose coefficients are built (and held, for RNN/GRU) at once


def chunks(L: int, backwards: bool = True, size: int = CHUNK) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering 0..L in ``size``-step blocks, last block first by default.

    >>> chunks(70)
    [(64, 70), (32, 64), (0, 32)]
    """
    out = [(a, min(a + size, L)) for a in range(0, L, size)]
    return out[::-1] if backwards else out


def prev_states(hs: Tensor, h0: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
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


def tanh_(x: Tensor) -> Tensor:
    """tanh in place as 2 σ(2x) - 1: on CPU about twice as fast as ``tanh_`` (which is not
    vectorised as well as ``sigmoid_``); the absolute error is at rounding level.

    >>> round(float(tanh_(torch.tensor(0.5, dtype=torch.float64))), 9)  # tanh 0.5
    0.462117157
    """
    x.mul_(2).sigmoid_()
    return torch.add(-x.new_ones(()), x, alpha=2, out=x)


def rnn_coefficients(hs: Tensor, start: int, stop: int, nonlinearity: str) -> Tensor:
    """d_t for t in [start, stop): (n, B, H), contiguous. hs: (B, L, H) layer output."""
    ht = hs.transpose(0, 1)[start:stop]
    if nonlinearity == "tanh":
        return torch.mul(ht, ht).neg_().add_(1)  # 1 - h_t²
    return (ht > 0).to(hs.dtype)


def gru_coefficients(p: dict[str, Tensor], x: Tensor, hprev: Tensor) -> tuple[Tensor, Tensor]:
    """For a block of n steps (x: (B, n, I), hprev: (n, B, H) time-major, overwritten):
    the update gate z (n, B, H) and the coefficients k_r, k_z, k_n as (n, B, 3, H)."""
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
    hr.copy_(r).addcmul_(r, r, value=-1).mul_(hn).mul_(cn)  # k_r = cn hn r (1 - r)
    hz.copy_(z).addcmul_(z, z, value=-1).mul_(hprev.sub_(n))  # k_z = (h_{t-1} - n) z (1 - z)
    torch.mul(cn, r, out=hn)  # k_n
    return z, gh.view(n_, B, 3, H)


def lstm_coefficients(
    p: dict[str, Tensor], x: Tensor, hs: Tensor, h0: Tensor, c0: Tensor, chunk: int = CHUNK
) -> tuple[Tensor, Tensor, Tensor]:
    """The LSTM's coefficients for every t: ``k`` block-major (4, L, B, H) (k_i, k_f, k_g, k_o),
    ``a`` (L, B, H) and ``fk`` = σ(f_t) (L, B, H). x: (B, L, I), hs: (B, L, H), h0, c0: (B, H).

    Built ``chunk`` steps at a time in time order: per gate one (n·B, I+H+1) x (I+H+1, H)
    product of [x_t, h_{t-1}, 1] with [W_ih, W_hh, b] (bias and input folded into one GEMM),
    the gate activations and c_t = f c_{t-1} + i g stay in cache, and only the coefficients are
    written to the (L, B, ·) buffers (σ(f) straight into ``fk``)."""
    B, L, H = hs.shape
    n_in = x.shape[-1]
    k = hs.new_empty(4, L, B, H)
    a, fk = hs.new_empty(L, B, H), hs.new_empty(L, B, H)
    bias = (p["bias_ih"] + p["bias_hh"]).unsqueeze(1)
    w = torch.cat([p["weight_ih"], p["weight_hh"], bias], dim=1)  # (4H, n_in+H+1)
    w[2 * H : 3 * H] *= 2  # the g block gives 2·g_pre: tanh(g_pre) = 2 σ(2 g_pre) - 1
    w_t = [w[j * H : (j + 1) * H].T for j in range(4)]  # per gate (n_in+H+1, H)
    C = min(chunk, L)
    z = hs.new_empty(C, B, n_in + H + 1)  # [x_t, h_{t-1}, 1] for the steps of a chunk
    z[..., n_in + H] = 1
    buf = hs.new_empty(3, C, B, H)  # i, g, o of a chunk
    xt, ht = x.transpose(0, 1), hs.transpose(0, 1)
    c_prev = c0
    one = hs.new_ones(())
    for s, e in chunks(L, backwards=False, size=chunk):
        n = e - s
        zc = z[:n]
        zc[..., :n_in].copy_(xt[s:e])
        if s == 0:
            zc[0, :, n_in : n_in + H].copy_(h0)
            zc[1:, :, n_in : n_in + H].copy_(ht[: e - 1])
        else:
            zc[:, :, n_in : n_in + H].copy_(ht[s - 1 : e - 1])
        i, g, o = buf[:, :n].unbind(0)
        f = fk[s:e]
        for j, out in enumerate((i, f, g, o)):
            torch.mm(zc.view(n * B, -1), w_t[j], out=out.view(n * B, H))
        buf[:, :n].sigmoid_()  # i, o and σ(2 g_pre) in one pass
        f.sigmoid_()
        torch.add(-one, g, alpha=2, out=g)
        c = torch.mul(i, g)  # then c_t = f_t c_{t-1} + i_t g_t, in place
        c[0].addcmul_(f[0], c_prev)
        for t in range(1, n):
            c[t].addcmul_(f[t], c[t - 1])
        kf = torch.addcmul(f, f, f, value=-1, out=k[1, s:e])  # σ'(f) c_{t-1}:
        kf[0].mul_(c_prev)
        kf[1:].mul_(c[:-1])
        c_prev = c[-1].clone()
        tc = tanh_(c)
        torch.addcmul(one, tc, tc, value=-1, out=a[s:e]).mul_(o)  # o (1 - tanh² c_t)
        torch.addcmul(o, o, o, value=-1, out=k[3, s:e]).mul_(tc)  # σ'(o) tanh c_t
        torch.addcmul(i, i, i, value=-1, out=k[0, s:e]).mul_(g)  # σ'(i) g
        torch.addcmul(one, g, g, value=-1, out=k[2, s:e]).mul_(i)  # i (1 - g²)
    return k, a, fk
