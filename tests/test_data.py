"""Validation data (DESIGN §2): fixed by seed, prefix-stable in val_size, never in training;
the training stream's distance range; determinism and RNG isolation of the stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnstudy import config
from rnnstudy.data import TRAIN, TaskData, derive_seed, row_hashes
from rnnstudy.tasks import TASK_NAMES, Batch, build_task
from rnnstudy.tasks import TASKS as GENERATORS

# a small config per registered task (the keys are checked against the registry below)
TASKS = {
    "copy": config.CopyTask(A=4, K=3, T=6),  # 64 distinct inputs: validation covers most
    "delayed_recall": config.DelayedRecallTask(A=3, n_distractors=2, d_min=1, d_max=4),
    "qa_distance": config.QADistanceTask(d_min=2, d_max=12),
    "adding": config.AddingTask(T=10),
    "temporal_order": config.TemporalOrderTask(L=20),
    "charlm": config.CharLMTask(seq_len=8),
    "copy_bai": config.CopyBaiTask(T=12, K=3, A=4),
}
# tasks whose training stream is filtered against the validation inputs
DISJOINT = [n for n in TASK_NAMES if GENERATORS[n].disjoint_validation]


def test_every_registered_task_has_a_config_here():
    assert sorted(TASKS) == sorted(TASK_NAMES)


def same(a: Batch, b: Batch) -> bool:
    """Exact: the compared batches come out of the same generator calls (one-hot and integer
    tensors, no arithmetic that could round differently)."""
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("x", "y", "mask", "eval_mask"))


def train_batches(data: TaskData, n: int) -> list[Batch]:
    return [data.train.batch(step) for step in range(n)]


@pytest.mark.parametrize("name", DISJOINT)
def test_defect5_validation_never_in_training(name):
    """Small input spaces (copy, delayed_recall above): validation inputs used to reappear in
    the training stream."""
    data = TaskData(build_task(TASKS[name]), seed=0, batch_size=32, val_size=48)
    val = set(row_hashes(data.val))
    seen = [h for b in train_batches(data, 30) for h in row_hashes(b)]
    assert len(seen) == 30 * 32  # batches stay full
    assert not val & set(seen)


def test_defect5_tour_copy_overlap_is_gone():
    # the audit's case: copy A=8, K=5, T=30 (8^5 inputs), val 512, 2000 batches of 64 had 492 of
    # 505 distinct validation inputs; a shorter check of the same kind (200 batches)
    data = TaskData(build_task(config.CopyTask(A=8, K=5, T=30)), 0, 64, 512)
    val = set(row_hashes(data.val))
    assert not val & {h for b in train_batches(data, 200) for h in row_hashes(b)}


@pytest.mark.parametrize("name", TASK_NAMES)
def test_defect5_validation_prefix_stable(name):
    """A larger val_size extends the same validation set (it used to be a different set)."""
    task = build_task(TASKS[name])
    small = TaskData(task, seed=3, batch_size=8, val_size=100).val
    large = TaskData(task, seed=3, batch_size=8, val_size=700).val
    assert len(small) == 100 and len(large) == 700
    assert same(small, large.slice(0, 100))
    for k in small.meta:
        assert torch.equal(small.meta[k], large.meta[k][:100])
    other = TaskData(task, seed=4, batch_size=8, val_size=100).val
    assert not same(small, other)


def test_training_refill_only_replaces_colliding_rows():
    data = TaskData(build_task(TASKS["copy"]), seed=0, batch_size=32, val_size=48)
    first = data.task.generate(derive_seed(0, TRAIN, 0), 32)
    val = set(row_hashes(data.val))
    keep = [i for i, h in enumerate(row_hashes(first)) if h not in val]
    got = data.train.batch(0)
    assert same(got.slice(0, len(keep)), first.take(keep))  # the clean rows, in order, first


def test_validation_filter_gives_up_clearly():
    # every one of the 4 inputs is in a 64-example validation set: no training batch exists
    data = TaskData(build_task(config.CopyTask(A=2, K=2, T=1)), 0, 8, 64)
    with pytest.raises(ValueError, match="validation set holds almost every input"):
        data.train.batch(0)


def test_charlm_shares_its_text():
    data = TaskData(build_task(config.CharLMTask(seq_len=8)), 0, 8, 16)
    assert data.train.exclude is None and len(data.train.batch(0)) == 8


def test_stream_deterministic_and_no_global_rng():
    task = build_task(TASKS["copy"])
    torch.manual_seed(0)
    np.random.seed(0)
    state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = train_batches(TaskData(task, 5, 16, 32), 4)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    torch.manual_seed(99)
    b = train_batches(TaskData(task, 5, 16, 32), 4)
    assert all(same(x, y) for x, y in zip(a, b, strict=True))
    c = train_batches(TaskData(task, 6, 16, 32), 4)
    assert not all(same(x, y) for x, y in zip(a, c, strict=True))


def test_stream_follows_the_distance_range():
    data = TaskData(build_task(config.DelayedRecallTask(d_min=2, d_max=30)), 0, 64, 1024)
    data.d_range = (2, 5)
    assert set(data.train.batch(0).meta["distance"].tolist()) <= set(range(2, 6))
    data.d_range = (2, 30)
    assert max(data.train.batch(1).meta["distance"].tolist()) > 5
    assert set(data.val.meta["distance"].tolist()) == set(range(2, 31))  # always the full range
