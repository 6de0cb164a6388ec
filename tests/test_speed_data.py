"""The training stream's validation filter (``RowSet``, issue 16) drops exactly the rows the
byte-digest filter it replaced dropped: same batches, step for step."""

from __future__ import annotations

import pytest
import torch

from rnnstudy import config, data
from rnnstudy.data import MAX_REFILLS, TRAIN, RowSet, TaskData, derive_seed, row_hashes
from rnnstudy.tasks import Batch, build_task


def digest_batch(stream: data.TrainStream, val: set[bytes], step: int) -> Batch:
    """The stream's batch as the blake2b filter made it (the code before issue 16)."""
    seed = derive_seed(stream.seed, TRAIN, step)
    b = stream._draw(seed)
    kept: list[Batch] = []
    for attempt in range(1, MAX_REFILLS + 2):
        keep = [i for i, h in enumerate(row_hashes(b)) if h not in val]
        if attempt == 1 and len(keep) == len(b):
            return b
        kept.append(b.take(keep))
        if sum(len(k) for k in kept) >= stream.batch_size:
            return Batch.cat(kept).slice(0, stream.batch_size)
        b = stream._draw(derive_seed(seed, TRAIN, attempt))
    raise AssertionError("no batch")


TOUR = {  # experiments/tour.yaml's tasks, and small input spaces where most batches refill
    "copy": config.CopyTask(A=8, K=3, d_min=4, d_max=30, n_buckets=5),
    "delayed_recall": config.DelayedRecallTask(A=8, n_distractors=8, d_min=2, d_max=100),
    "qa_distance": config.QADistanceTask(
        n_keys=8, n_values=8, n_facts=4, n_filler=4, d_min=2, d_max=60
    ),
    "small_copy": config.CopyTask(A=4, K=3, T=6),
    "small_recall": config.DelayedRecallTask(A=3, n_distractors=2, d_min=1, d_max=4),
}


@pytest.mark.parametrize("name", list(TOUR))
def test_stream_is_the_digest_filters_stream(name):
    val_size = 48 if name.startswith("small") else 512  # (small: 64 or 81 inputs in all)
    d = TaskData(build_task(TOUR[name]), seed=1, batch_size=64, val_size=val_size)
    val = set(row_hashes(d.val))
    refilled = 0
    for step in range(60):
        if step == 30 and name == "copy":
            d.d_range = (4, 6)  # the grow schedule's first ranges: many more collisions
        got, want = d.train.batch(step), digest_batch(d.train, val, step)
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y)
        assert not val & set(row_hashes(got))
        refilled += not torch.equal(got.x, d.train._draw(derive_seed(1, TRAIN, step)).x)
    if name.startswith("small") or name == "copy":
        assert refilled > 10  # the filter was exercised


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8, torch.bool])
def test_rowset_is_exact_for_any_dtype_and_when_keys_collide(dtype, monkeypatch):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 5, 3, generator=gen) < 0.5).to(dtype)
    members = RowSet(x[:20])
    assert members.outside(x[:20]) == []
    want = [i for i in range(40) if not any(torch.equal(x[i], x[j]) for j in range(20))]
    assert members.outside(x) == want
    monkeypatch.setattr(data, "row_keys", lambda ints: [0] * len(ints))  # every key collides
    assert RowSet(x[:20]).outside(x) == want
    assert RowSet(x[:20]).outside(x[:, :4]) == list(range(40))  # another length


def test_negative_zero_and_nan_compare_as_bytes():
    x = torch.tensor([[0.0, float("nan")], [-0.0, float("nan")]])
    assert RowSet(x[:1]).outside(x) == [1]  # like the digests: -0.0 is other bytes, NaN equal
