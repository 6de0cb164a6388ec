"""Brute-force oracles: the network unrolled step by step in Python, autograd at every h_t."""

from __future__ import annotations

import torch

from rnnstudy.models.cells import hidden, layer_params, unroll_direction


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


__all__ = ["hidden", "oracle_norms", "unrolled_forward"]
