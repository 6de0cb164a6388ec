"""Lightning data: an endless stream of fresh training batches and a fixed validation set.

Every batch comes from the task's pure generator with a seed derived from (run seed, purpose,
index), so the data is seeded by the run seed and nothing else: two runs with one seed see the
same batches.

The validation set (DESIGN §2) is built in chunks of ``VAL_CHUNK`` examples, chunk ``i`` from
its own seed ``derive_seed(seed, VAL, i)``, then cut to ``val_size``: a larger ``val_size``
extends the same set (prefix-stable). Validation inputs never appear in training: each
training row whose input equals a validation input (hash of the row's bytes) is dropped and
the batch refilled from follow-up draws of the same step (tasks with ``disjoint_validation``).

The core tasks' training range of distances is ``TaskData.d_range`` (None: the task's whole
range); the distance schedule (rnnstudy.curriculum) narrows and widens it while training runs
(the stream is read in-process, ``num_workers=0``, so the change applies to the next batches).
"""

from __future__ import annotations

import hashlib

import pytorch_lightning as pl
from torch.utils.data import DataLoader, IterableDataset

from rnnstudy.tasks import Batch, Task

TRAIN, VAL, TEST = 1, 2, 3
VAL_CHUNK = 256  # validation examples per seed (fixed: the set is prefix-stable in val_size)
MAX_REFILLS = 100  # follow-up draws to replace training rows that equal validation inputs


def derive_seed(seed: int, purpose: int, index: int = 0) -> int:
    """A distinct 63-bit seed for each (run seed, purpose, index)."""
    x = (seed * 0x9E3779B97F4A7C15 + purpose * 0xBF58476D1CE4E5B9 + index) & ((1 << 64) - 1)
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return x >> 1


def row_hashes(batch: Batch) -> list[bytes]:
    """One digest per example of its whole input sequence ``x``."""
    flat = batch.x.reshape(len(batch), -1).contiguous().cpu().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


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

    def __init__(self, task: Task, seed: int, batch_size: int, exclude: set[bytes]):
        self.task, self.seed, self.batch_size, self.exclude = task, seed, batch_size, exclude
        self.d_range: tuple[int, int] | None = None

    def _draw(self, seed: int) -> Batch:
        if self.d_range is None:
            return self.task.generate(seed, self.batch_size)
        return self.task.generate(seed, self.batch_size, d_range=self.d_range)

    def batch(self, step: int) -> Batch:
        seed = derive_seed(self.seed, TRAIN, step)
        b = self._draw(seed)
        if not self.exclude:
            return b
        kept: list[Batch] = []
        for attempt in range(1, MAX_REFILLS + 2):
            keep = [i for i, h in enumerate(row_hashes(b)) if h not in self.exclude]
            if attempt == 1 and len(keep) == len(b):
                return b
            kept.append(b.take(keep))
            if sum(len(k) for k in kept) >= self.batch_size:
                return Batch.cat(kept).slice(0, self.batch_size)
            b = self._draw(derive_seed(seed, TRAIN, attempt))  # a follow-up draw of this step
        raise ValueError(
            f"task {self.task.cfg.name}: the validation set holds almost every input, so no"
            " training batch avoids it; lower train.val_size or widen the task"
        )


class _Stream(IterableDataset):
    def __init__(self, stream: TrainStream):
        self.stream = stream

    def __iter__(self):
        step = 0
        while True:
            yield self.stream.batch(step)
            step += 1


class _Fixed(IterableDataset):
    def __init__(self, batches: list[Batch]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def _identity(x):
    return x


class TaskData(pl.LightningDataModule):
    def __init__(
        self, task: Task, seed: int, batch_size: int, val_size: int, val_chunk: int = 1024
    ):
        super().__init__()
        self.task, self.seed, self.batch_size = task, seed, batch_size
        self.val = validation_set(task, seed, val_size)
        self.val_chunk = val_chunk
        exclude = set(row_hashes(self.val)) if task.disjoint_validation else set()
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

    def val_dataloader(self) -> DataLoader:
        n = len(self.val)
        chunks = [
            self.val.slice(i, min(i + self.val_chunk, n)) for i in range(0, n, self.val_chunk)
        ]
        return DataLoader(_Fixed(chunks), batch_size=None, collate_fn=_identity)
