"""Brute-force oracles: the network unrolled step by step in Python, autograd at every h_t."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.autograd.functional import jacobian

from rnnstudy.models.cells import hidden, layer_params, step, unroll_direction


def unrolled_forward(model, x, state0=None, leaves=None):
    """Run ``model`` (a RecurrentNet) with explicit per-step cells.

    If ``leaves`` is a dict, a zero leaf tensor is added to every h_t (and c_t) and stored
    under ``leaves[(key, t)]``, so that its ``.grad`` after backward is the total ∂L/∂h_t.
    Returns the head output in the same format as the fused forward.
    """
    H = model.cfg.hidden_size
    h = x
    for li, layer in enumerate(model.layers):
        outs = []
        for d in range(model.directions):
            rev = d == 1
            key = f"l{li}" + ("_reverse" if rev else "")
            p = layer_params(layer, reverse=rev)
            B = x.shape[0]
            if state0 is None:
                z = x.new_zeros(B, H)
                st = (z, z.clone()) if model.cell == "lstm" else z
            else:
                s = state0[li]
                st = (s[0][d], s[1][d]) if isinstance(s, tuple) else s[d]

            def on_step(t, state, key=key):
                if leaves is None:
                    return state
                if isinstance(state, tuple):
                    eh = torch.zeros_like(state[0], requires_grad=True)
                    leaves[(key, t)] = eh
                    return state[0] + eh, state[1]
                e = torch.zeros_like(state, requires_grad=True)
                leaves[(key, t)] = e
                return state + e

            def c_hook(t, c, key=key):
                if leaves is None:
                    return c
                ec = torch.zeros_like(c, requires_grad=True)
                leaves[(key + "_c", t)] = ec
                return c + ec

            hook = c_hook if model.cell == "lstm" else None
            o, _ = unroll_direction(
                model.cell, p, h, st, model.cfg.nonlinearity, rev, on_step, hook
            )
            outs.append(o)
        h = torch.cat(outs, dim=-1)
    if model.readout == "last":
        if model.directions == 2:
            feat = torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=-1)
        else:
            feat = h[:, -1]
        return model.head(feat)
    return model.head(h)


def oracle_norms(model, x, loss_fn, state0=None):
    """{key: (L,)} mean-over-batch L2 norms of the total ∂L/∂h_t, by brute force."""
    leaves: dict = {}
    out = unrolled_forward(model, x, state0, leaves)
    loss = loss_fn(out)
    keys = sorted({k for k, _ in leaves})
    grads = torch.autograd.grad(loss, [leaves[k] for k in sorted(leaves)], allow_unused=True)
    by = dict(zip(sorted(leaves), grads, strict=True))
    L = x.shape[1]
    res = {}
    for k in keys:
        rows = []
        for t in range(L):
            g = by[(k, t)]
            rows.append(torch.zeros(x.shape[0], dtype=x.dtype) if g is None else g.norm(dim=-1))
        res[k] = torch.stack(rows, dim=1).mean(0)
    return res


def _flat(state) -> torch.Tensor:
    return torch.cat(state, dim=-1) if isinstance(state, tuple) else state


def step_jacobians(cell, p, x, nonlinearity="tanh"):
    """The step Jacobians J_t = ∂s_t/∂s_{t-1} of one layer (one direction) driven by ``x``
    (B, L, I) from the zero state, each by autograd on one explicit cell step: a list of L
    float64 arrays (B, S, S), S = H (h) or 2H ((h, c) for the LSTM)."""
    B, L, _ = x.shape
    H = p["weight_hh"].shape[1]
    z = x.new_zeros(B, H)
    state = (z, z.clone()) if cell == "lstm" else z
    out = []
    for t in range(L):
        rows = []
        for b in range(B):
            xb = x[b : b + 1, t]

            def f(s, xb=xb):
                st = (s[:H].unsqueeze(0), s[H:].unsqueeze(0)) if cell == "lstm" else s.unsqueeze(0)
                return _flat(step(cell, p, xb, st, nonlinearity))[0]

            rows.append(jacobian(f, _flat(state)[b].detach()).numpy())
        out.append(np.stack(rows))
        with torch.no_grad():
            state = step(cell, p, x[:, t], state, nonlinearity)
    return out


def oracle_profile(jacs, u, src):
    """ρ(k), k = 1..L-1: the mean over the examples with src_b >= k of
    ‖u_bᵀ J_{src_b} J_{src_b-1} ··· J_{src_b-k+1}‖ (NaN where no example reaches lag k)."""
    L = len(jacs)
    sums, counts = np.zeros(L - 1), np.zeros(L - 1)
    for b, s in enumerate(src):
        v = np.asarray(u[b], dtype=np.float64)
        for k in range(1, s + 1):
            v = v @ jacs[s - k + 1][b]  # uᵀ ∂s_s/∂s_{s-k}
            sums[k - 1] += np.linalg.norm(v)
            counts[k - 1] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def oracle_lyapunov(jacs, q0):
    """Top-k exponents by the QR method in numpy: q0 (M, S, k) orthonormal columns, one per
    trajectory (the first M examples); the mean over trajectories of (1/L) Σ_t ln |R_t[i, i]|.
    A direction past the rank of some J_t Q_{t-1} (``np.linalg.matrix_rank``, an SVD) is -inf."""
    M, S, k = q0.shape
    L = len(jacs)
    lam = np.zeros((M, k))
    for b in range(M):
        q = np.asarray(q0[b], dtype=np.float64)
        for t in range(L):
            v = jacs[t][b] @ q
            rank = np.linalg.matrix_rank(v)
            q, r = np.linalg.qr(v)
            with np.errstate(divide="ignore"):
                lam[b] += np.log(np.abs(np.diag(r))) / L
            lam[b, rank:] = -math.inf
    return lam.mean(axis=0)


__all__ = [
    "hidden",
    "oracle_lyapunov",
    "oracle_norms",
    "oracle_profile",
    "step_jacobians",
    "unrolled_forward",
]
