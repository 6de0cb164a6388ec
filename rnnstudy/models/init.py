"""Weight initialisation (DESIGN §3): init scheme, recurrent gain, LSTM forget bias.

``recurrent_gain`` rescales every gate block of every ``W_hh`` so that its spectral radius
equals the gain: the knob that makes gradients vanish (< 1) or explode (> 1) on purpose.

``sparse`` is Pascanu et al. 2013's ``smart_tanh`` (pascanur/trainingRNNs, RNN.py:125-140):
every weight matrix drawn from N(0, 0.01), biases zero, and each row of each ``W_hh`` block
keeps 15 randomly chosen nonzeros before the block is scaled to spectral radius
``recurrent_gain`` (0.95 when unset, their value). ``basic_tanh`` is their dense N(0, 0.1)
variant (RNN.py:115-124: every weight N(0, 0.1), biases zero, no rescaling).

``xavier`` is Arjovsky, Shah & Bengio 2016's init (amarshah/complex_RNN models.py:6-12,
155-170, 215-236): Glorot uniform, bound sqrt(6/(n_in+n_out)), for every matrix including the
readout, each LSTM gate block on its own; every bias zero, except the LSTM forget gate's at
``forget_bias`` (their b_f = 1). Their learned initial states h_0, c_0 (starting at zero) are
``model.initial_state: learned`` (``rnnstudy.models.recurrent``), not part of the init scheme.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnstudy.config import ModelConfig

SPARSE_NONZEROS = 15  # per row of W_hh (RNN.py:130-132: W_hh[dx][perm[15:]] = 0)
SPARSE_STD = 0.01  # RNN.py:126-129 and :136-137
SPARSE_RADIUS = 0.95  # RNN.py:133-134
BASIC_STD = 0.1  # RNN.py:116-121


def _blocks(w: torch.Tensor, n: int) -> list[torch.Tensor]:
    return list(w.chunk(n, dim=0))


def spectral_radius(w: torch.Tensor) -> float:
    return float(torch.linalg.eigvals(w.detach().double()).abs().max())


@torch.no_grad()
def sparse_(w: torch.Tensor, nonzeros: int = SPARSE_NONZEROS, std: float = SPARSE_STD) -> None:
    """Fill ``w`` in place with N(0, std) entries, keeping ``nonzeros`` random ones per row.

    Example: a 4 x 20 block with ``nonzeros=15`` has exactly 15 nonzero entries in each row
    (5 zeros per row, at positions drawn independently per row); with more columns than rows
    the count is ``min(nonzeros, columns)``.
    """
    rows, cols = w.shape
    keep = min(nonzeros, cols)
    w.normal_(0.0, std)
    order = torch.rand(rows, cols).argsort(dim=1)  # a random permutation per row
    w.scatter_(1, order[:, keep:], 0.0)


@torch.no_grad()
def initialise(model: nn.Module, cfg: ModelConfig) -> None:
    n_gates = {"rnn": 1, "lstm": 4, "gru": 3}[cfg.cell]
    gain = cfg.recurrent_gain
    if cfg.init == "sparse" and gain is None:
        gain = SPARSE_RADIUS
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
                    elif cfg.init == "sparse":
                        sparse_(block)
                    elif cfg.init == "basic_tanh":
                        block.normal_(0.0, BASIC_STD)
                    if gain is not None:
                        r = spectral_radius(block)
                        if r > 0:
                            block.mul_(gain / r)
            elif name.startswith("weight_ih"):
                if cfg.init == "xavier":
                    for block in _blocks(p, n_gates):
                        nn.init.xavier_uniform_(block)
                elif cfg.init == "orthogonal":
                    for block in _blocks(p, n_gates):
                        nn.init.orthogonal_(block)
                elif cfg.init == "sparse":
                    p.normal_(0.0, SPARSE_STD)  # W_uh: dense N(0, 0.01)
                elif cfg.init == "basic_tanh":
                    p.normal_(0.0, BASIC_STD)
            elif name.startswith("bias") and cfg.init in (
                "identity",
                "sparse",
                "basic_tanh",
                "xavier",
            ):
                p.zero_()  # IRNN (Le et al. 2015), Pascanu et al., Arjovsky et al.: zero biases
            if cfg.cell == "lstm" and name.startswith("bias"):
                H = cfg.hidden_size
                if name.startswith("bias_ih"):
                    p[H : 2 * H] = cfg.forget_bias
                else:
                    p[H : 2 * H] = 0.0
    if cfg.init in ("sparse", "basic_tanh"):  # the readout too (RNN.py:120-123, :136-139)
        model.head.weight.normal_(0.0, SPARSE_STD if cfg.init == "sparse" else BASIC_STD)
        model.head.bias.zero_()
    elif cfg.init == "xavier":  # Arjovsky et al.: Glorot readout, zero output bias (:166-168)
        nn.init.xavier_uniform_(model.head.weight)
        model.head.bias.zero_()
