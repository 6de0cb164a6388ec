"""Arjovsky, Shah & Bengio 2016's own RNN and LSTM at initialisation, rebuilt outside the
harness, to separate "their network" from "our harness" in the gradient-norm card (a).

Their models (amarshah/complex_RNN @974fc3e, models.py: ``tanhRNN`` and ``LSTM``) draw every
matrix from ``numpy.random.RandomState(1234)`` in a fixed order, Glorot uniform
(``initialize_matrix``, bound sqrt(6/(n_in+n_out))), zero biases, forget bias 1, zero (learned)
initial states, and the LSTM has a peephole ``V_o`` from the cell to the output gate. This module
draws the same matrices with the same generator and order, so the network at initialisation is
theirs weight for weight (float64 instead of their float32), runs the adding problem at
T=1000 (marks in the first and second halves, their ``adding_problem.py:generate_data``) and
returns ``||dC/dh_t||`` for every t (C the batch-mean squared error at the last step; the norm
over the batch and the units). Only the data (their draws were not seeded) differ from theirs.

    .venv/bin/python -m rnnstudy.repro.arjovsky_exact           # prints the decay rates
"""

from __future__ import annotations

import numpy as np
import torch

FLOOR = -24.0  # their figure's lower edge, log10


def glorot(rng: np.random.RandomState, n_in: int, n_out: int) -> torch.Tensor:
    b = np.sqrt(6.0 / (n_in + n_out))
    w = torch.tensor(rng.uniform(low=-b, high=b, size=(n_in, n_out)), dtype=torch.float64)
    return w.requires_grad_()


def adding_halves(T: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Their generator (adding_problem.py:13-30): (T, n, 2) inputs, (n, 1) targets."""
    r = np.random.RandomState(seed)
    x = np.zeros((T, n, 2))
    x[:, :, 0] = r.uniform(0.0, 1.0, size=(T, n))
    inds = r.randint(T // 2, size=(n, 2))
    inds[:, 1] += T // 2
    for i in range(n):
        x[inds[i, 0], i, 1] = 1.0
        x[inds[i, 1], i, 1] = 1.0
    y = (x[:, :, 0] * x[:, :, 1]).sum(axis=0).reshape(n, 1)
    return torch.tensor(x), torch.tensor(y)


def profile(
    cell: str,
    T: int = 1000,
    n: int = 20,
    hidden: int = 128,
    data_seed: int = 0,
    init_seed: int = 1234,
    peephole: bool = True,
) -> np.ndarray:
    """log10 ||dC/dh_t||, t = 0..T-1, of their ``cell`` ('rnn' or 'lstm') at initialisation."""
    rng = np.random.RandomState(init_seed)
    x, y = adding_halves(T, n, data_seed)
    hs: list[torch.Tensor] = []
    h = torch.zeros(n, hidden, dtype=torch.float64)
    if cell == "rnn":  # models.py tanhRNN: V, W, out_mat in this order
        V, W, out = glorot(rng, 2, hidden), glorot(rng, hidden, hidden), glorot(rng, hidden, 1)
        for t in range(T):
            h = torch.tanh(h @ W + x[t] @ V)
            h.retain_grad()
            hs.append(h)
    else:  # models.py LSTM: W_i, W_f, W_c, W_o, U_i, U_f, U_c, U_o, V_o, out_mat
        Wi, Wf, Wc, Wo = (glorot(rng, 2, hidden) for _ in range(4))
        Ui, Uf, Uc, Uo = (glorot(rng, hidden, hidden) for _ in range(4))
        Vo = glorot(rng, hidden, hidden)
        out = glorot(rng, hidden, 1)
        if not peephole:
            Vo = torch.zeros_like(Vo).requires_grad_()
        c = torch.zeros(n, hidden, dtype=torch.float64)
        for t in range(T):
            i = torch.sigmoid(x[t] @ Wi + h @ Ui)
            g = torch.tanh(x[t] @ Wc + h @ Uc)
            f = torch.sigmoid(x[t] @ Wf + h @ Uf + 1.0)
            c = i * g + f * c
            o = torch.sigmoid(x[t] @ Wo + h @ Uo + c @ Vo)
            h = o * torch.tanh(c)
            h.retain_grad()
            hs.append(h)
    loss = ((h @ out - y) ** 2).mean()
    loss.backward()
    norms = np.array([float(v.grad.norm()) for v in hs])
    return np.log10(np.maximum(norms, 1e-300))


def rate_per_100(lg: np.ndarray, floor: float = FLOOR) -> tuple[float, int]:
    """Mean fall in orders of magnitude per 100 steps over the range the figure shows (from the
    last step back to where the curve leaves the plot at 10^floor), and that t (0 if never)."""
    below = np.where(lg < floor)[0]
    t0 = int(below.max() + 1) if len(below) else 0
    last = len(lg) - 1
    return float((lg[last] - lg[t0]) / (last - t0) * 100.0), t0


def main() -> None:
    for cell, kw in [("rnn", {}), ("lstm", {}), ("lstm", {"peephole": False})]:
        for ds in (0, 1, 2):
            lg = profile(cell, data_seed=ds, **kw)
            r, t0 = rate_per_100(lg)
            tag = cell + ("" if kw else "") + (" (no peephole)" if kw else "")
            print(
                f"{tag:20s} data {ds}: log10 at t=0/500/900/999 "
                f"{lg[0]:7.1f} {lg[500]:7.1f} {lg[900]:7.1f} {lg[999]:7.1f}  "
                f"fall {r:5.2f} orders/100 steps (visible from t={t0})"
            )


if __name__ == "__main__":
    main()
