"""The recurrent network: a stack of single-layer fused PyTorch cells and a linear readout.

Each layer is its own one-layer ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (the fused fast path:
cuDNN on a GPU, oneDNN/MKL on a CPU), so the hidden sequence of *every* layer is available to
the instruments without a second forward pass. Parameters keep PyTorch's per-layer names
(``layers.1.weight_hh_l0``); ``param_label`` turns them into the DESIGN names
(``weight_hh_l1``).

Readout: ``per_step`` applies the head at every step (many-to-many); ``last`` applies it to the
final state (for a bidirectional net: forward state at the last step, backward state at step 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnstudy.config import ModelConfig
from rnnstudy.models.init import initialise

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class Forward:
    """What one forward pass returns.

    out:     head output, (B, L, O) for per-step readout or (B, O) for last-step readout.
    layers:  per layer, the hidden sequence (B, L, H * directions) that layer produced.
    inputs:  per layer, the sequence that layer consumed (layer 0: x).
    state:   per layer, the final state (h_n or (h_n, c_n)), to carry forward under TBPTT.
    """

    out: Tensor
    layers: list[Tensor]
    inputs: list[Tensor]
    state: list


class RecurrentNet(nn.Module):
    def __init__(self, cfg: ModelConfig, input_size: int, output_size: int, readout: str):
        super().__init__()
        self.cfg = cfg
        self.cell = cfg.cell
        self.readout = readout
        self.directions = 2 if cfg.bidirectional else 1
        cls = CELLS[cfg.cell]
        extra = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
        layers = []
        for i in range(cfg.num_layers):
            in_size = input_size if i == 0 else cfg.hidden_size * self.directions
            layers.append(
                cls(
                    in_size,
                    cfg.hidden_size,
                    1,
                    batch_first=True,
                    bidirectional=cfg.bidirectional,
                    **extra,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(cfg.hidden_size * self.directions, output_size)
        initialise(self, cfg)

    def forward(self, x: Tensor, state: list | None = None) -> Forward:
        inputs, outs, finals = [], [], []
        h = x
        for i, layer in enumerate(self.layers):
            inputs.append(h)
            h, s = layer(h, None if state is None else state[i])
            outs.append(h)
            finals.append(s)
        if self.readout == "last":
            H = self.cfg.hidden_size
            if self.directions == 2:
                feat = torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=-1)
            else:
                feat = h[:, -1]
            out = self.head(feat)
        else:
            out = self.head(h)
        return Forward(out, outs, inputs, finals)


def param_label(name: str) -> str:
    """``layers.1.weight_hh_l0_reverse`` -> ``weight_hh_l1_reverse``; ``head.weight`` unchanged."""
    parts = name.split(".")
    if parts[0] == "layers" and len(parts) == 3:
        layer, pname = parts[1], parts[2]
        base, _, rest = pname.partition("_l0")
        return f"{base}_l{layer}{rest}"
    return name


def detach_state(state: list) -> list:
    """Cut the graph at a TBPTT window boundary, keeping the values."""
    out = []
    for s in state:
        out.append(tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach())
    return out


def gate_blocks(cell: str) -> list[str]:
    """Names of the row blocks of W_hh in PyTorch's layout."""
    return {"rnn": ["all"], "lstm": ["i", "f", "g", "o"], "gru": ["r", "z", "n"]}[cell]
