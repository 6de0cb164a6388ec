"""Character-level language model (min-char-rnn; the seeds' "hello" example)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from rnnstudy.tasks.base import Batch, Task, one_hot
from rnnstudy.tasks.facts import TaskFacts, register

if TYPE_CHECKING:
    from torch import Tensor


HELLO_TEXT = "hello " * 50  # built-in toy text (min-char-rnn's "hello" example)


class CharLMTask(TaskFacts):
    name: Literal["charlm"] = "charlm"
    path: str | None = None  # None = the built-in "hello" text
    seq_len: Annotated[int, Field(ge=2)] = 25
    metric: ClassVar[str] = "val/bpc"
    higher_is_better: ClassVar[bool] = False

    def text(self) -> str:
        """The training text (ValueError naming ``task.path`` if unreadable)."""
        if self.path is None:
            return HELLO_TEXT
        p = Path(self.path)
        if not p.is_file():
            raise ValueError(f"task.path: no such text file: {self.path}")
        try:
            return p.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"task.path: {self.path} is not UTF-8 text ({err.reason})") from None

    @property
    def chance_metric(self) -> float:
        return math.log2(len(set(self.text())))

    @property
    def memoryless_loss(self) -> float:
        """Uniform over the vocabulary: ``ln V``."""
        return math.log(len(set(self.text())))


@register
class CharLM(Task):
    """Next-character prediction on a text (``cfg.path``, UTF-8) or the built-in ``"hello "``
    repeated. Vocabulary = the sorted unique characters (``input_size = output_size = V``).

    Each example is a window of ``seq_len + 1`` characters at a random offset; ``x`` is the
    one-hot of the first ``seq_len``, ``y`` the following character at every step.

    Worked example (built-in text, vocabulary ``' ', e, h, l, o`` -> ids 0..4, ``seq_len=5``,
    offset 0)::

        window  h  e  l  l  o  ' '
        x       h  e  l  l  o            ids 2 1 3 3 4
        y       e  l  l  o  ' '          ids 1 3 3 4 0

    ``mask``/``eval_mask`` all True (B, seq_len); ``meta['offset']`` is (B,) long.

    Metric: ``val/bpc`` (bits per character = cross-entropy / ln 2), lower is better. Chance:
    uniform prediction, ``chance_loss = ln V``, ``chance_metric = log2 V``. There is no solved
    criterion (``solved`` is always False): the report states bits per character.
    """

    config = CharLMTask
    disjoint_validation = False  # the built-in text has ~6 distinct windows: all are shared

    def __init__(self, cfg: CharLMTask) -> None:
        import torch

        self.cfg = cfg
        text = cfg.text()
        if len(text) < cfg.seq_len + 1:
            source = cfg.path if cfg.path is not None else "the built-in hello text"
            raise ValueError(
                f"task.seq_len: {source} has {len(text)} characters, need at least"
                f" seq_len+1 = {cfg.seq_len + 1}"
            )
        self.text = text
        self.chars: list[str] = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.data = torch.tensor([self.stoi[c] for c in text], dtype=torch.long)
        self.vocab_size = len(self.chars)
        self.input_size = self.output_size = self.vocab_size
        self.seq_len = cfg.seq_len

    def encode(self, s: str) -> Tensor:
        import torch

        return torch.tensor([self.stoi[c] for c in s], dtype=torch.long)

    def decode(self, ids: Tensor | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def generate(self, seed: int, n: int) -> Batch:
        import torch

        g = self.generator(seed)
        S = self.seq_len
        n_offsets = len(self.data) - S  # offsets 0 .. len-S-1 leave room for S+1 characters
        offset = torch.randint(0, n_offsets, (n,), generator=g)
        window = self.data[offset[:, None] + torch.arange(S + 1)]
        mask = torch.ones(n, S, dtype=torch.bool)
        return Batch(
            one_hot(window[:, :S], self.vocab_size),
            window[:, 1:].clone(),
            mask,
            mask.clone(),
            {"offset": offset},
        )
