"""Lightning data: an endless stream of fresh training batches and a fixed validation set.

Every batch comes from the task's pure generator with a seed derived from (run seed, purpose,
step), so the data is seeded by the run seed and nothing else: two runs with one seed see the
same batches, and the validation set never overlaps the training stream's seeds.
"""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader, IterableDataset

from rnnstudy.tasks import Batch, Task

TRAIN, VAL, TEST = 1, 2, 3


def derive_seed(seed: int, purpose: int, index: int = 0) -> int:
    """A distinct 63-bit seed for each (run seed, purpose, index)."""
    x = (seed * 0x9E3779B97F4A7C15 + purpose * 0xBF58476D1CE4E5B9 + index) & ((1 << 64) - 1)
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return x >> 1


class _Stream(IterableDataset):
    def __init__(self, task: Task, seed: int, batch_size: int):
        self.task, self.seed, self.batch_size = task, seed, batch_size

    def __iter__(self):
        step = 0
        while True:
            yield self.task.generate(derive_seed(self.seed, TRAIN, step), self.batch_size)
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
        self.val = task.generate(derive_seed(seed, VAL), val_size)
        self.val_chunk = val_chunk

    def transfer_batch_to_device(self, batch: Batch, device, dataloader_idx: int) -> Batch:
        return batch.to(device)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            _Stream(self.task, self.seed, self.batch_size), batch_size=None, collate_fn=_identity
        )

    def val_dataloader(self) -> DataLoader:
        n = len(self.val)
        chunks = [
            self.val.slice(i, min(i + self.val_chunk, n)) for i in range(0, n, self.val_chunk)
        ]
        return DataLoader(_Fixed(chunks), batch_size=None, collate_fn=_identity)
