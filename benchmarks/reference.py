"""(a) The reference: the training loop a researcher writes by hand in plain PyTorch, with the
initial weights rnnstudy's module gets. No Lightning, no MLflow, no instruments."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.clocks import Clock
from benchmarks.common import CELLS, train_batch
from rnnstudy.config import RunConfig
from rnnstudy.models import RecurrentNet
from rnnstudy.tasks import Task


class PlainNet(nn.Module):
    """One fused recurrent layer and a linear head, on every step (``per_step``) or on the
    last step (``last``)."""

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, readout: str):
        super().__init__()
        self.rnn = CELLS[cell](inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        self.last = readout == "last"

    def forward(self, x: Tensor) -> Tensor:
        h = self.rnn(x)[0]
        return self.head(h[:, -1] if self.last else h)


def same_weights(cfg: RunConfig, task: Task) -> PlainNet:
    """A PlainNet with the initial weights rnnstudy's module gets (same seed, same init)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    ref = RecurrentNet(cfg.model, task.input_size, task.output_size, task.readout)
    net = PlainNet(
        cfg.model.cell, task.input_size, cfg.model.hidden_size, task.output_size, task.readout
    )
    net.rnn.load_state_dict(ref.layers[0].state_dict())
    net.head.load_state_dict(ref.head.state_dict())
    return net


def plain_fit(cfg: RunConfig, task: Task, device: torch.device, clock: Clock | None = None) -> None:
    """(a): ``cfg.train.max_steps`` steps of the hand-written loop on the run's batches: masked
    cross-entropy, Adam, ``clip_grad_norm_``; ``clock`` marked before and after every step."""
    net = same_weights(cfg, task).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr)
    if clock:
        clock.mark()
    for step in range(cfg.train.max_steps):
        b = train_batch(task, cfg, step, device)
        logits = net(b.x)
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), b.y.reshape(-1), reduction="none"
        )
        loss = (ce * b.mask.reshape(-1)).sum() / b.mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg.clip.value)
        opt.step()
        if clock:
            clock.mark()
