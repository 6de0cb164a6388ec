"""Weight initialisation (DESIGN §3): init scheme, recurrent gain, LSTM forget bias.

``recurrent_gain`` rescales every gate block of every ``W_hh`` so that its spectral radius
equals the gain: the knob that makes gradients vanish (< 1) or explode (> 1) on purpose.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnstudy.config import ModelConfig


def _blocks(w: torch.Tensor, n: int) -> list[torch.Tensor]:
    return list(w.chunk(n, dim=0))


def spectral_radius(w: torch.Tensor) -> float:
    return float(torch.linalg.eigvals(w.detach().double()).abs().max())


@torch.no_grad()
def initialise(model: nn.Module, cfg: ModelConfig) -> None:
    n_gates = {"rnn": 1, "lstm": 4, "gru": 3}[cfg.cell]
    for layer in model.layers:
        for name, p in layer.named_parameters():
            if name.startswith("weight_hh"):
                for block in _blocks(p, n_gates):
                    if cfg.init == "orthogonal":
                        nn.init.orthogonal_(block)
                    elif cfg.init == "identity":
                        block.copy_(torch.eye(block.shape[0], dtype=block.dtype))
                    elif cfg.init == "xavier":
                        nn.init.xavier_uniform_(block)
                    if cfg.recurrent_gain is not None:
                        r = spectral_radius(block)
                        if r > 0:
                            block.mul_(cfg.recurrent_gain / r)
            elif name.startswith("weight_ih"):
                if cfg.init == "xavier":
                    for block in _blocks(p, n_gates):
                        nn.init.xavier_uniform_(block)
                elif cfg.init == "orthogonal":
                    for block in _blocks(p, n_gates):
                        nn.init.orthogonal_(block)
            elif name.startswith("bias") and cfg.init == "identity":
                p.zero_()  # IRNN (Le et al. 2015): identity W_hh, zero biases
            if cfg.cell == "lstm" and name.startswith("bias"):
                H = cfg.hidden_size
                if name.startswith("bias_ih"):
                    p[H : 2 * H] = cfg.forget_bias
                else:
                    p[H : 2 * H] = 0.0
