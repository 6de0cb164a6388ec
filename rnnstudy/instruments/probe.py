"""One probe of a ``RecurrentNet`` on the batch it just trained on: per-time-step gradient norms,
propagation profiles and Lyapunov exponents for every layer and direction.

Input: the TBPTT windows the module captured (``module.Window``: start, per-layer inputs,
outputs, immediate gradients, initial state). The gradient is computed per window (no gradient
crosses a window boundary). The loss-independent instruments run on one trajectory of the whole
sequence under one set of weights: ``trajectory`` when given (per-window TBPTT, whose windows
ran under different weights: ``SequenceModule.probe_trajectory``), else the captured windows
concatenated (full BPTT or per-sequence TBPTT: one forward pass, the state carried across
boundaries). Gradient rows span the whole sequence: the steps outside the captured windows
(per-window TBPTT: the rest of the sequence) get zeros, as no gradient of the update reaches
them. With one window from step 0 and no separate trajectory, the gradient and the propagated
unit vectors share one backward pass per direction.

Example: an LSTM with 2 layers, not bidirectional, gives gradient norms under ``l0``, ``l0_c``,
``l1``, ``l1_c`` and propagation profiles and exponents under ``l0`` and ``l1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rnnstudy.instruments.gradtime import direction_backward, directions
from rnnstudy.instruments.lyapunov import direction_lyapunov
from rnnstudy.instruments.propagation import injection, lag_profile


@dataclass
class ProbeResult:
    """grad_norms: {key: (B, L)} per-example ‖∂L/∂h_t‖ in original time order (``_c``: ∂L/∂c_t);
    rho: {key: (L-1,)} the propagation profile ρ(k), k = 1..L-1 (processing order);
    lyapunov: {key: (k,)} the top exponents."""

    grad_norms: dict[str, np.ndarray] = field(default_factory=dict)
    rho: dict[str, np.ndarray] = field(default_factory=dict)
    lyapunov: dict[str, np.ndarray] = field(default_factory=dict)


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


def _store_grads(res: ProbeResult, key: str, out: dict[str, Tensor], rev: bool) -> None:
    for name, suffix in (("h_norm", ""), ("c_norm", "_c")):
        if name in out:
            v = out[name].flip(1) if rev else out[name]
            res.grad_norms.setdefault(key + suffix, []).append(v)


def _pad(rows: np.ndarray, start: int, length: int) -> np.ndarray:
    """(B, n) rows of steps start..start+n-1 as (B, length), zero outside them."""
    if start == 0 and rows.shape[1] == length:
        return rows
    out = np.zeros((rows.shape[0], length))
    out[:, start : start + rows.shape[1]] = rows
    return out


def _end(windows: list) -> int:
    return max(w.start + w.outputs[0].shape[1] for w in windows)


@torch.no_grad()
def run_probe(
    model,
    windows: list,
    gen: torch.Generator,
    *,
    gradients: bool = True,
    sources: int = 0,
    lyapunov: int = 0,
    trajectory: list | None = None,
) -> ProbeResult:
    """Probe ``model`` on captured ``windows`` (each with .start, .inputs, .outputs, .grads,
    .state0). ``sources``: source steps of the propagation profile (0 = off); ``lyapunov``:
    number of exponents (0 = off); ``gen``: the generator of the random vectors;
    ``trajectory``: windows (same fields, no grads needed) of the whole sequence for the
    propagation profile, the exponents and the length of the gradient rows; default
    ``windows``."""
    res = ProbeResult()
    wins = sorted(windows, key=lambda w: w.start)
    cell, nl, H = model.cell, model.cfg.nonlinearity, model.cfg.hidden_size
    S = 2 * H if cell == "lstm" else H
    single = len(wins) == 1 and wins[0].start == 0 and trajectory is None
    if gradients:
        for w in wins:
            share = single and sources > 0
            for key, p, x, hs, h0, c0, rev, li in directions(model, w.inputs, w.outputs, w.state0):
                g = w.grads[li]
                d = 1 if rev else 0
                g = torch.zeros_like(hs) if g is None else g[..., d * H : (d + 1) * H]
                g = g.flip(1) if rev else g
                inj = injection(hs.shape[0], S, hs.shape[1], sources, gen, hs) if share else None
                out = direction_backward(cell, p, x, hs, g, h0, c0, nl, inject=inj, keep=False)
                _store_grads(res, key, out, rev)
                if inj is not None:
                    res.rho[key] = lag_profile(_numpy(out["prop"]), inj.src.cpu().numpy())
    length = _end(wins if trajectory is None else trajectory)
    res.grad_norms = {
        k: _pad(_numpy(torch.cat(v, dim=1)), wins[0].start, length)
        for k, v in res.grad_norms.items()
    }
    if sources == 0 and lyapunov == 0:
        return res
    wins = wins if trajectory is None else sorted(trajectory, key=lambda w: w.start)
    n_layers = len(wins[0].inputs)
    inputs = [torch.cat([w.inputs[i] for w in wins], dim=1) for i in range(n_layers)]
    outputs = [torch.cat([w.outputs[i] for w in wins], dim=1) for i in range(n_layers)]
    for key, p, x, hs, h0, c0, _rev, _li in directions(model, inputs, outputs, wins[0].state0):
        if sources > 0 and key not in res.rho:
            inj = injection(hs.shape[0], S, hs.shape[1], sources, gen, hs)
            if inj is not None:
                out = direction_backward(cell, p, x, hs, None, h0, c0, nl, inject=inj)
                res.rho[key] = lag_profile(_numpy(out["prop"]), inj.src.cpu().numpy())
        if lyapunov > 0:
            lam = direction_lyapunov(cell, p, x, hs, h0, c0, nl, lyapunov, gen)
            res.lyapunov[key] = _numpy(lam)
    return res
