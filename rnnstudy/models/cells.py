"""The cell equations written out, one time step at a time, from a fused layer's parameters.

``step(cell, params, x_t, state)`` computes exactly what PyTorch's fused ``nn.RNN/LSTM/GRU``
computes for one step (gate order: LSTM i, f, g, o; GRU r, z, n). ``unroll`` runs a whole
sequence through an explicit Python loop. This is the slow, obviously-correct path: the tests
check it against the fused module and use it as the brute-force oracle for the instruments.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def layer_params(layer: nn.Module, reverse: bool = False) -> dict[str, Tensor]:
    sfx = "_l0_reverse" if reverse else "_l0"
    return {k: getattr(layer, k + sfx) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def step(
    cell: str, p: dict[str, Tensor], x_t: Tensor, state, nonlinearity: str = "tanh", c_hook=None
):
    """One step. state: h (rnn, gru) or (h, c) (lstm). Returns the new state.

    ``c_hook(c) -> c`` (LSTM) may replace c_t before h_t = o·tanh(c_t) is computed."""
    gi = x_t @ p["weight_ih"].T + p["bias_ih"]
    if cell == "rnn":
        a = gi + state @ p["weight_hh"].T + p["bias_hh"]
        return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
    if cell == "lstm":
        h, c = state
        i, f, g, o = (gi + h @ p["weight_hh"].T + p["bias_hh"]).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if c_hook is not None:
            c = c_hook(c)
        return torch.sigmoid(o) * torch.tanh(c), c
    if cell == "gru":
        h = state
        gh = h @ p["weight_hh"].T + p["bias_hh"]
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h
    raise ValueError(f"unknown cell {cell!r}")


def hidden(state) -> Tensor:
    return state[0] if isinstance(state, tuple) else state


def zero_state(cell: str, batch: int, hidden_size: int, like: Tensor):
    h = like.new_zeros(batch, hidden_size)
    return (h, h.clone()) if cell == "lstm" else h


def unroll_direction(
    cell, p, x, state, nonlinearity="tanh", reverse=False, on_step=None, c_hook=None
):
    """Run one direction of one layer over x (B, L, I). ``on_step(t, state) -> state`` may
    replace the state after each step and ``c_hook(t, c) -> c`` the LSTM cell state before the
    output is computed (the oracle inserts leaves there). Returns (outputs (B, L, H), final)."""
    L = x.shape[1]
    order = range(L - 1, -1, -1) if reverse else range(L)
    outs: list[Tensor | None] = [None] * L
    for t in order:
        hook = None if c_hook is None else (lambda c, t=t: c_hook(t, c))
        state = step(cell, p, x[:, t], state, nonlinearity, hook)
        if on_step is not None:
            state = on_step(t, state)
        outs[t] = hidden(state)
    return torch.stack(outs, dim=1), state
