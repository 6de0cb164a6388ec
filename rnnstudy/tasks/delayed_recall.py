"""Delayed recall (Hochreiter & Schmidhuber 1997, exp. 2; DESIGN §2.1): one item under
interference (``mode: cue``), or the older fixed-delay stream (``mode: stream``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from rnnstudy.tasks.base import Batch, one_hot
from rnnstudy.tasks.distance import DistanceTask
from rnnstudy.tasks.facts import DistanceFacts, register
from rnnstudy.typed import PositiveInt


class DelayedRecallTask(DistanceFacts):
    """``mode: cue`` (default): a cue, ``d - 1`` distractors, a recall marker; answer the cue.
    ``mode: stream``: the older fixed-delay form (output the symbol seen ``D`` steps ago at
    every step of a length-``L`` stream). A config that gives ``D`` or ``L`` and no ``mode``
    is the stream form."""

    name: Literal["delayed_recall"] = "delayed_recall"
    mode: Literal["cue", "stream"] = "cue"
    A: Annotated[int, Field(ge=2)] = 8
    n_distractors: PositiveInt = 8
    D: PositiveInt | None = None  # stream only: the delay (default 10)
    L: PositiveInt | None = None  # stream only: the length (default 40)
    d_min: PositiveInt = 2
    d_max: PositiveInt = 40
    solved_threshold: ClassVar[float | None] = 0.99

    @model_validator(mode="before")
    @classmethod
    def _stream_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "mode" not in data and ("D" in data or "L" in data):
            data = {**data, "mode": "stream"}
        if data.get("mode") == "stream":
            data = {"D": 10, "L": 40, **data}
        return data

    @model_validator(mode="after")
    def _length(self) -> DelayedRecallTask:
        if self.mode == "cue":
            if self.D is not None or self.L is not None:
                raise ValueError("task.D and task.L are for mode: stream (cue uses d_min/d_max)")
            self._check_range(1, "the cue comes at least one step before the recall")
        elif self.L < 2 * self.D:
            raise ValueError(f"task.L must be >= 2*D = {2 * self.D} (got {self.L})")
        return self

    @property
    def has_distances(self) -> bool:
        return self.mode == "cue"

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last" if self.mode == "cue" else "per_step"

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.A

    @property
    def memoryless_loss(self) -> float:
        return math.log(self.A)


@register
class DelayedRecall(DistanceTask):
    """``mode: cue`` (default, many-to-one): a cue symbol, ``d-1`` distractors, a recall
    marker; the target at the marker is the cue.

    Tokens: ``0`` = blank (padding), cues ``1..A``, distractors ``A+1..A+N``
    (``N = n_distractors``, a separate alphabet), recall marker ``A+N+1``; so
    ``input_size = A+N+2``. The target is the cue's index ``0..A-1`` (``output_size = A``).
    Every example has length ``L = d_max + 1``; the cue sits at ``L-1-d``
    (``meta['source']``), the marker at ``L-1``, with ``d`` drawn per example from
    ``[d_min, d_max]`` (``meta['distance']``). Steps before the cue are blanks.

    Worked example (``A=3, n_distractors=2, d_min=2, d_max=5``: cues ``1..3``, distractors
    ``4, 5``, marker ``6``, ``L=6``), cue ``2`` at distance ``d=3``::

        t      0  1  2  3  4  5
        x      0  0  2  5  4  6
        y      1                  (cue 2 is class 1; source = 2, distance = 5 - 2 = 3)

    ``mask``/``eval_mask`` are all True, shape (B,): only the last step has a target, so the
    padding never reaches the loss. Chance: the cue is uniform, accuracy ``1/A`` and
    ``chance_loss = ln A``. Solved: ``val/acc >= 0.99``.

    ``mode: stream`` (per step): a stream of ``L`` random symbols in ``0..A-1``; at every step
    ``t >= D`` output the symbol seen at ``t-D``; ``t < D`` is masked (target stored as 0).
    ``input_size = output_size = A``. Example (``A=4, D=2, L=6``)::

        t      0  1  2  3  4  5
        x      3  1  0  2  2  1
        y      -  -  3  1  0  2      (- : masked)

    A memoryless predictor is at chance: ``ln A``, accuracy ``1/A`` (same as the cue form).
    """

    config = DelayedRecallTask

    def __init__(self, cfg: DelayedRecallTask) -> None:
        self.cfg = cfg
        self.mode = cfg.mode
        self.A = cfg.A
        self.d_min, self.d_max = cfg.d_min, cfg.d_max
        if self.mode == "stream":
            self.D = cfg.D
            self.input_size = self.output_size = self.A
            self.seq_len = cfg.L
        else:
            self.n_distractors = cfg.n_distractors
            self.marker = self.A + self.n_distractors + 1
            self.input_size = self.marker + 1
            self.output_size = self.A
            self.seq_len = self.d_max + 1

    def generate(self, seed: int, n: int, d_range: tuple[int, int] | None = None) -> Batch:
        import torch

        if self.mode == "stream":
            return self._stream(seed, n)
        g = self.generator(seed)
        A, L = self.A, self.seq_len
        cue = torch.randint(0, A, (n,), generator=g)
        d = self.draw_distances(g, n, d_range)
        tokens = torch.randint(A + 1, A + self.n_distractors + 1, (n, L), generator=g)
        source = L - 1 - d
        tokens[torch.arange(L)[None, :] < source[:, None]] = 0
        tokens[torch.arange(n), source] = cue + 1
        tokens[:, L - 1] = self.marker
        mask = torch.ones(n, dtype=torch.bool)
        meta = {"distance": d, "source": source}
        return Batch(one_hot(tokens, self.input_size), cue, mask, mask.clone(), meta)

    def _stream(self, seed: int, n: int) -> Batch:
        import torch

        g = self.generator(seed)
        D, L = self.D, self.seq_len
        tokens = torch.randint(0, self.A, (n, L), generator=g)
        y = torch.zeros(n, L, dtype=torch.long)
        y[:, D:] = tokens[:, : L - D]
        mask = torch.zeros(n, L, dtype=torch.bool)
        mask[:, D:] = True
        return Batch(one_hot(tokens, self.A), y, mask, mask.clone())

    def buckets(self) -> list[tuple[int, int]]:
        if self.mode == "stream":
            return []
        return super().buckets()
