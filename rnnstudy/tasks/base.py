"""What every task returns and promises (DESIGN §2).

A task is a pure generator: ``task.generate(seed, n)`` builds ``n`` examples from its own
``torch.Generator`` seeded with ``seed`` (never global RNG state), so the same seed gives the
same data and the validation set is fixed by seed.

Torch is imported inside the methods that use it, not at the top: a task's module also holds
its config class (``rnnstudy.tasks.facts``), which ``rnnstudy.config`` imports torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from rnnstudy.tasks.facts import TaskFacts

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@dataclass
class Batch:
    """One batch of examples.

    x:    (B, L, input_size) float32 inputs (one-hot symbols, or real channels for ``adding``).
    y:    per-step tasks: (B, L) targets (long class ids; float for regression);
          last-step tasks: (B,) targets.
    mask: same shape as ``y``; bool: which targets count in the loss.
    eval_mask: same shape as ``y``; bool: which targets count in accuracy (copy: the last K
          steps only; otherwise equal to ``mask``).
    meta: per-example metadata, each a (B,) or (B, k) tensor. The core tasks (copy,
          delayed_recall, qa_distance) give ``distance`` (the d of DESIGN §2.1) and ``source``
          (position, in the padded sequence, of the first input that must be remembered).
    """

    x: Tensor
    y: Tensor
    mask: Tensor
    eval_mask: Tensor
    meta: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> Batch:

        return Batch(
            self.x.to(device),
            self.y.to(device),
            self.mask.to(device),
            self.eval_mask.to(device),
            {k: v.to(device) for k, v in self.meta.items()},
        )

    def slice(self, start: int, stop: int) -> Batch:

        return Batch(
            self.x[start:stop],
            self.y[start:stop],
            self.mask[start:stop],
            self.eval_mask[start:stop],
            {k: v[start:stop] for k, v in self.meta.items()},
        )

    def take(self, rows: list[int]) -> Batch:
        """The examples at ``rows``, in that order."""
        import torch

        i = torch.tensor(rows, dtype=torch.long)
        return Batch(
            self.x[i],
            self.y[i],
            self.mask[i],
            self.eval_mask[i],
            {k: v[i] for k, v in self.meta.items()},
        )

    @staticmethod
    def cat(batches: list[Batch]) -> Batch:
        """Concatenate batches along the example axis."""
        import torch

        return Batch(
            torch.cat([b.x for b in batches]),
            torch.cat([b.y for b in batches]),
            torch.cat([b.mask for b in batches]),
            torch.cat([b.eval_mask for b in batches]),
            {k: torch.cat([b.meta[k] for b in batches]) for k in batches[0].meta},
        )


class Task:
    """Base class of a task's generator. A subclass names its config class (``config``), is
    registered with ``rnnstudy.tasks.facts.register`` and implements ``generate``; its facts
    (metric, direction, chance, solved threshold, readout) are read from its config."""

    config: ClassVar[type[TaskFacts]]
    kind: ClassVar[Literal["classification", "regression"]] = "classification"

    input_size: int
    output_size: int
    seq_len: int
    cfg: TaskFacts  # the task's config: its facts (metric, chance, threshold) live there
    # training batches are filtered against the validation inputs (rnnstudy.data); off where
    # the whole input space is tiny and shared on purpose (charlm's built-in text)
    disjoint_validation: ClassVar[bool] = True

    def generate(self, seed: int, n: int) -> Batch:
        raise NotImplementedError

    def generator(self, seed: int) -> torch.Generator:
        import torch

        return torch.Generator().manual_seed(int(seed))

    @property
    def metric(self) -> str:
        """The validation metric that decides "solved" (a fact of the task's config)."""
        return self.cfg.metric

    @property
    def higher_is_better(self) -> bool:
        return self.cfg.higher_is_better

    @property
    def readout(self) -> Literal["per_step", "last"]:
        """``last`` (many-to-one) or ``per_step``: a fact of the task's config."""
        return self.cfg.readout

    @property
    def solved_threshold(self) -> float | None:
        return self.cfg.solved_threshold

    @property
    def chance_loss(self) -> float:
        """Loss of the best predictor that ignores the input history (memoryless baseline)."""
        return self.cfg.memoryless_loss

    @property
    def chance_metric(self) -> float:
        """Value of ``metric`` at chance (accuracy 1/A, MSE of predicting the mean, ...)."""
        return self.cfg.chance_metric

    def solved(self, metrics: dict[str, float]) -> bool:
        """The task's "solved" criterion on validation metrics (DESIGN §2)."""
        return self.cfg.solved(metrics)


def one_hot(tokens: Tensor, size: int) -> Tensor:
    """(B, L) long -> (B, L, size) float32."""
    import torch

    return torch.nn.functional.one_hot(tokens, size).to(torch.float32)
