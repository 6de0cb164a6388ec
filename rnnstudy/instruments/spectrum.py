"""Spectral radius and largest singular value of every recurrent weight matrix W_hh.

For each W_hh: ``sigma_max`` of the whole matrix (and ``radius`` when it is square, i.e. the
vanilla RNN), and ``radius`` / ``sigma_max`` of every gate block (LSTM i, f, g, o; GRU r, z, n),
which are square H x H. Keys: ``spectral/<param>/radius`` with <param> like ``weight_hh_l0`` or
``weight_hh_l0.f``.
"""

from __future__ import annotations

import torch

from rnnstudy.instruments.base import Instrument, Metrics, Rows
from rnnstudy.models.recurrent import gate_blocks, param_label


@torch.no_grad()
def matrix_stats(w: torch.Tensor) -> dict[str, float]:
    w = w.detach().double().cpu()
    out = {"sigma_max": float(torch.linalg.matrix_norm(w, ord=2))}
    if w.shape[0] == w.shape[1]:
        out["radius"] = float(torch.linalg.eigvals(w).abs().max())
    return out


@torch.no_grad()
def spectrum(model) -> dict[str, float]:
    out: dict[str, float] = {}
    blocks = gate_blocks(model.cell)
    for name, p in model.named_parameters():
        if "weight_hh" not in name:
            continue
        label = param_label(name)
        for stat, v in matrix_stats(p).items():
            out[f"spectral/{label}/{stat}"] = v
        if len(blocks) > 1:
            for gate, block in zip(blocks, p.chunk(len(blocks), dim=0), strict=True):
                for stat, v in matrix_stats(block).items():
                    out[f"spectral/{label}.{gate}/{stat}"] = v
    return out


class Spectrum(Instrument):
    """Instrument ``spectrum``: ``spectrum(model)`` on the probe schedule, from the weights the
    step's gradients were taken at. Switch: ``probe.spectrum``."""

    name = "spectrum"

    @classmethod
    def from_config(cls, cfg) -> Spectrum | None:
        p = cfg.probe
        return cls(p.every, p.log_spaced_early) if p.enabled and p.spectrum else None

    def measure(self, record) -> tuple[Metrics, Rows | None]:
        return spectrum(record.model), None
