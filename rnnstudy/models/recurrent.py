"""The recurrent network: a stack of single-layer fused PyTorch cells and a linear readout.

Each layer is its own one-layer ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (the fused fast path:
cuDNN on a GPU, oneDNN/MKL on a CPU), so the hidden sequence of *every* layer is available to
the instruments without a second forward pass. Parameters keep PyTorch's per-layer names
(``layers.1.weight_hh_l0``); ``param_label`` turns them into the DESIGN names
(``weight_hh_l1``).

Readout: ``per_step`` applies the head at every step (many-to-many); ``last`` applies it to the
final state (for a bidirectional net: forward state at the last step, backward state at step 0).

Initial state (``model.initial_state``): ``zero`` starts every layer from h_0 = 0 (and c_0 = 0)
and registers no parameter (the fused layer's own zero state, ``state=None``). ``learned`` gives
every layer a parameter ``h0.<layer>`` of shape (directions, 1, H) (LSTM: also ``c0.<layer>``),
initialised at 0 and broadcast over the batch, as Arjovsky, Shah & Bengio 2016's ``h_0`` and
``state_0`` (amarshah/complex_RNN models.py: shared (1, n_hidden) zeros in the parameter list).
At initialisation the two are the same network. ``initial_state(B)`` is the one place that
builds it: the forward pass, the first TBPTT window and the instruments (through
``rnnstudy.instruments.gradtime.directions``) all start from it.
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
        if cfg.initial_state == "learned":  # zeros: no random draw, the init above is unchanged
            shape = (self.directions, 1, cfg.hidden_size)
            n = cfg.num_layers
            self.h0 = nn.ParameterList([nn.Parameter(torch.zeros(shape)) for _ in range(n)])
            if cfg.cell == "lstm":
                self.c0 = nn.ParameterList([nn.Parameter(torch.zeros(shape)) for _ in range(n)])

    def initial_state(self, batch: int) -> list | None:
        """Per layer, the state a sequence starts from, in the fused layer's layout
        ((directions, B, H), LSTM: a pair); None for ``initial_state: zero`` (the fused
        layers' own zero state)."""
        if self.cfg.initial_state == "zero":
            return None
        out: list = []
        for i, h0 in enumerate(self.h0):
            h = h0.expand(-1, batch, -1).contiguous()
            if self.cell == "lstm":
                out.append((h, self.c0[i].expand(-1, batch, -1).contiguous()))
            else:
                out.append(h)
        return out

    def forward(self, x: Tensor, state: list | None = None) -> Forward:
        """``state``: per layer, the state to start from (TBPTT carries it); None: the
        network's initial state (``initial_state``)."""
        inputs, outs, finals = [], [], []
        h = x
        if state is None:
            state = self.initial_state(x.shape[0])
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
    """``layers.1.weight_hh_l0_reverse`` -> ``weight_hh_l1_reverse``; ``h0.1`` -> ``h0_l1``
    (a learned initial state); ``head.weight`` unchanged."""
    parts = name.split(".")
    if parts[0] == "layers" and len(parts) == 3:
        layer, pname = parts[1], parts[2]
        base, _, rest = pname.partition("_l0")
        return f"{base}_l{layer}{rest}"
    if parts[0] in ("h0", "c0") and len(parts) == 2:
        return f"{parts[0]}_l{parts[1]}"
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
