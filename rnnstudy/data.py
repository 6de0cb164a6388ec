"""Lightning data: an endless stream of fresh training batches and a fixed validation set.

Every batch comes from the task's pure generator with a seed derived from (run seed, purpose,
index), so the data is seeded by the run seed and nothing else: two runs with one seed see the
same batches.

The validation set (DESIGN §2) is built in chunks of ``VAL_CHUNK`` examples, chunk ``i`` from
its own seed ``derive_seed(seed, VAL, i)``, then cut to ``val_size``: a larger ``val_size``
extends the same set (prefix-stable). Validation inputs never appear in training: each
training row whose input equals a validation input (byte for byte: ``RowSet``) is dropped and
the batch refilled from follow-up draws of the same step (tasks with ``disjoint_validation``).

``train.val_fresh``: each validation check (the Lightning validation loop: ``val/*`` metrics
and the first step at which the solved criterion held) draws a fresh set of ``val_size``
examples, built like the fixed one from the base seed ``derive_seed(seed, VAL_FRESH, step)``,
``step`` the training step of the check: deterministic, the same for every run of one seed, and
never the fixed set. The fixed set stays what the final evaluation (``rnnstudy.outcome``), the
distance schedule and the horizon tag read, and what training batches are filtered against;
fresh sets are not filtered (for a task with a small input space a fresh set may hold inputs
seen in training).

The core tasks' training range of distances is ``TaskData.d_range`` (None: the task's whole
range); the distance schedule (rnnstudy.curriculum) narrows and widens it while training runs
(the stream is read in-process, ``num_workers=0``, so the change applies to the next batches).
A run resumed from a checkpoint starts the stream at the batch it had reached
(``TrainStream.start``, set by ``rnnstudy.checkpoint.RunCheckpoint``).

Per-window TBPTT (``train.tbptt_mode: per_window``) takes one update per window that holds a
loss term: ``WindowedData`` hands every sequence batch once per such window (``make_data``
picks it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from rnnstudy.tasks import Batch, Task
from rnnstudy.tbptt import update_windows

TRAIN, VAL, TEST, VAL_FRESH = 1, 2, 3, 4
VAL_CHUNK = 256  # validation examples per seed (fixed: the set is prefix-stable in val_size)
MAX_REFILLS = 100  # follow-up draws to replace training rows that equal validation inputs
KEEP_RANGES = 8  # batches whose distance range the stream remembers (TrainStream.ranges)


def derive_seed(seed: int, purpose: int, index: int = 0) -> int:
    """A distinct 63-bit seed for each (run seed, purpose, index)."""
    x = (seed * 0x9E3779B97F4A7C15 + purpose * 0xBF58476D1CE4E5B9 + index) & ((1 << 64) - 1)
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return x >> 1


def row_hashes(batch: Batch) -> list[bytes]:
    """One digest per example of its whole input sequence ``x`` (the tests' reference for
    ``RowSet``: two rows are the same input iff their bytes are)."""
    flat = batch.x.reshape(len(batch), -1).contiguous().cpu().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def row_ints(x: Tensor) -> Tensor:
    """The bytes of each example's whole input, as a (B, W) int32 tensor (a view when the row
    length in bytes is a multiple of 4): equal rows of ints are equal rows of bytes."""
    flat = x.reshape(len(x), math.prod(x.shape[1:])).contiguous().cpu()
    raw = flat.view(torch.uint8)
    return raw.view(torch.int32) if raw.shape[1] % 4 == 0 else raw.to(torch.int32)


_MULTIPLIERS: dict[int, Tensor] = {}


def row_keys(ints: Tensor) -> list[int]:
    """A 64-bit key per row of ``row_ints``: Σ_j fold16(w_j) · m_j, integer arithmetic, so
    equal rows get equal keys whatever the batch (a float dot product would not promise that).
    Different rows may share a key: ``RowSet`` compares the rows themselves then."""
    W = ints.shape[1]
    m = _MULTIPLIERS.get(W)
    if m is None:  # fixed per width: keys of the validation set and of every batch agree
        gen = torch.Generator().manual_seed(W)
        m = _MULTIPLIERS[W] = torch.randint(1, 1 << 15, (W,), generator=gen, dtype=torch.int32)
    v = ints >> 16
    v ^= ints
    v &= 0xFFFF  # < 2^16, times m < 2^15: no int32 overflow; the sum is taken in int64
    v *= m
    return v.sum(1, dtype=torch.int64).tolist()


class RowSet:
    """A fixed set of inputs (rows of ``x``) and an exact, vectorised "which rows of this batch
    are in it": a key per row (``row_keys``) finds the candidates, then each candidate is
    compared byte for byte with the set's rows of the same key. Same answer as comparing
    ``row_hashes`` (0.05-0.15 ms for a batch of 64 against 0.15-0.55 ms for the digests)."""

    def __init__(self, x: Tensor):
        self.ints = row_ints(x)
        self.by_key: dict[int, list[int]] = {}
        for i, k in enumerate(row_keys(self.ints)):
            self.by_key.setdefault(k, []).append(i)

    def __len__(self) -> int:
        return len(self.ints)

    def outside(self, x: Tensor) -> list[int]:
        """Indices of the rows of ``x`` that are not in the set, in order."""
        ints = row_ints(x)
        if ints.shape[1] != self.ints.shape[1]:
            return list(range(len(ints)))  # another length: no row can be equal
        keep = []
        for i, k in enumerate(row_keys(ints)):
            same = self.by_key.get(k)
            if same is None or not any(torch.equal(ints[i], self.ints[j]) for j in same):
                keep.append(i)
        return keep


def validation_set(task: Task, seed: int, size: int) -> Batch:
    """``size`` examples from chunks of ``VAL_CHUNK``, chunk ``i`` seeded by ``(seed, VAL, i)``."""
    chunks = [
        task.generate(derive_seed(seed, VAL, i), VAL_CHUNK)
        for i in range((size + VAL_CHUNK - 1) // VAL_CHUNK)
    ]
    return Batch.cat(chunks).slice(0, size)


class TrainStream:
    """Training batch ``step`` of a run: drawn from ``derive_seed(seed, TRAIN, step)`` with the
    current distance range, rows equal to a validation input replaced by rows of follow-up draws.
    """

    def __init__(self, task: Task, seed: int, batch_size: int, exclude: RowSet | None):
        self.task, self.seed, self.batch_size, self.exclude = task, seed, batch_size, exclude
        self.d_range: tuple[int, int] | None = None
        self.start = 0  # the first batch index a new iterator yields (a resumed run's position)
        # the range each recent batch was drawn with (Lightning draws a batch ahead, before the
        # validation that may widen the range): a checkpoint keeps those of batches drawn but
        # not yet trained on, and a resumed run draws them again with the same ranges
        self.ranges: dict[int, tuple[int, int] | None] = {}

    def _draw(self, seed: int) -> Batch:
        return self._draw_in(seed, self.d_range)

    def _draw_in(self, seed: int, d_range: tuple[int, int] | None) -> Batch:
        if d_range is None:
            return self.task.generate(seed, self.batch_size)
        return self.task.generate(seed, self.batch_size, d_range=d_range)

    def batch(self, step: int) -> Batch:
        """Training batch ``step``, drawn with the current distance range."""
        return self._batch(step, self.d_range)

    def next_batch(self, step: int) -> Batch:
        """Batch ``step`` of the training iterator: drawn with the range remembered for it (a
        resumed run's batches drawn ahead before its checkpoint), else with the current range,
        which is remembered."""
        d_range = self.ranges.setdefault(step, self.d_range)
        for old in [i for i in self.ranges if i < step - KEEP_RANGES]:
            del self.ranges[old]
        return self._batch(step, d_range)

    def _batch(self, step: int, d_range: tuple[int, int] | None) -> Batch:
        seed = derive_seed(self.seed, TRAIN, step)
        b = self._draw_in(seed, d_range)
        if not self.exclude:
            return b
        kept: list[Batch] = []
        for attempt in range(1, MAX_REFILLS + 2):
            keep = self.exclude.outside(b.x)
            if attempt == 1 and len(keep) == len(b):
                return b
            kept.append(b.take(keep))
            if sum(len(k) for k in kept) >= self.batch_size:
                return Batch.cat(kept).slice(0, self.batch_size)
            b = self._draw_in(derive_seed(seed, TRAIN, attempt), d_range)  # a follow-up draw
        raise ValueError(
            f"task {self.task.cfg.name}: the validation set holds almost every input, so no"
            " training batch avoids it; lower train.val_size or widen the task"
        )


class _Stream(IterableDataset):
    def __init__(self, stream: TrainStream):
        self.stream = stream

    def __iter__(self):
        step = self.stream.start
        while True:
            yield self.stream.next_batch(step)
            step += 1


class _Fixed(IterableDataset):
    def __init__(self, batches: list[Batch]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


class _Fresh(IterableDataset):
    """The chunks of ``draw()``, called anew each time the loader is iterated."""

    def __init__(self, draw: Callable[[], list[Batch]]):
        self.draw = draw

    def __iter__(self):
        return iter(self.draw())


def _identity(x):
    return x


class TaskData(pl.LightningDataModule):
    def __init__(
        self,
        task: Task,
        seed: int,
        batch_size: int,
        val_size: int,
        val_chunk: int = 1024,
        val_fresh: bool = False,
    ):
        super().__init__()
        self.task, self.seed, self.batch_size = task, seed, batch_size
        self.val = validation_set(task, seed, val_size)
        self.val_chunk, self.val_fresh = val_chunk, val_fresh
        exclude = RowSet(self.val.x) if task.disjoint_validation else None
        self.train = TrainStream(task, seed, batch_size, exclude)

    @property
    def d_range(self) -> tuple[int, int] | None:
        """The training range of distances (None: the task's whole range)."""
        return self.train.d_range

    @d_range.setter
    def d_range(self, value: tuple[int, int] | None) -> None:
        self.train.d_range = value

    def transfer_batch_to_device(self, batch: Batch, device, dataloader_idx: int) -> Batch:
        return batch.to(device)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Stream(self.train), batch_size=None, collate_fn=_identity)

    def fresh_validation_set(self, step: int) -> Batch:
        """The validation set of the check at training step ``step`` (``train.val_fresh``)."""
        return validation_set(self.task, derive_seed(self.seed, VAL_FRESH, step), len(self.val))

    def _chunks(self, val: Batch) -> list[Batch]:
        n, c = len(val), self.val_chunk
        return [val.slice(i, min(i + c, n)) for i in range(0, n, c)]

    def val_dataloader(self) -> DataLoader:
        if not self.val_fresh:
            return DataLoader(_Fixed(self._chunks(self.val)), batch_size=None, collate_fn=_identity)

        def draw() -> list[Batch]:
            return self._chunks(self.fresh_validation_set(int(self.trainer.global_step)))

        return DataLoader(_Fresh(draw), batch_size=None, collate_fn=_identity)


class _Repeat(IterableDataset):
    """Each batch of ``stream`` ``times(batch)`` times in a row."""

    def __init__(self, stream, times: Callable[[Batch], int]):
        self.stream, self.times = stream, times

    def __iter__(self):
        for batch in self.stream:
            for _ in range(self.times(batch)):
                yield batch


class WindowedData(TaskData):
    """TBPTT per_window: every sequence batch once per update window (``rnnstudy.module``)."""

    def __init__(
        self, task: Task, seed: int, batch_size: int, val_size: int, k: int, val_fresh: bool = False
    ):
        super().__init__(task, seed, batch_size, val_size, val_fresh=val_fresh)
        self.k = k

    def train_dataloader(self) -> DataLoader:
        base = super().train_dataloader()

        def times(batch: Batch) -> int:
            return len(update_windows(batch, self.k, self.task.readout))

        return DataLoader(_Repeat(base.dataset, times), batch_size=None, collate_fn=base.collate_fn)


def make_data(cfg: Any, task: Task) -> TaskData:
    """The data module of a run config (``WindowedData`` under per-window TBPTT)."""
    t = cfg.train
    if t.tbptt is not None and t.tbptt_mode == "per_window":
        return WindowedData(task, cfg.seed, t.batch_size, t.val_size, t.tbptt, t.val_fresh)
    return TaskData(task, cfg.seed, t.batch_size, t.val_size, val_fresh=t.val_fresh)
