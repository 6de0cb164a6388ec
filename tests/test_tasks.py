"""Task generators (DESIGN §2): formats, determinism, no global RNG, baselines."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from rnnstudy import config
from rnnstudy.metrics import loss_sum
from rnnstudy.tasks import CORE_TASKS, TASK_NAMES, TASKS, Batch, Task, build_task
from rnnstudy.tasks.adding import Adding
from rnnstudy.tasks.charlm import CharLM
from rnnstudy.tasks.copy import Copy
from rnnstudy.tasks.delayed_recall import DelayedRecall
from rnnstudy.tasks.qa_distance import QADistance
from rnnstudy.tasks.temporal_order import TemporalOrder

# a small config per registered task (the keys are checked against the registry below)
CONFIGS = {
    "copy": config.CopyTask(A=4, K=3, d_min=4, d_max=15),
    "delayed_recall": config.DelayedRecallTask(A=5, n_distractors=3, d_min=1, d_max=12),
    "qa_distance": config.QADistanceTask(n_keys=5, n_values=4, n_facts=3, d_min=2, d_max=12),
    "adding": config.AddingTask(T=15),
    "temporal_order": config.TemporalOrderTask(L=30),
    "charlm": config.CharLMTask(seq_len=8),
    "copy_bai": config.CopyBaiTask(T=12, K=3, A=4),
}
NAMES = list(TASK_NAMES)


def test_every_registered_task_is_tested():
    assert sorted(CONFIGS) == sorted(TASK_NAMES)


def task(name: str) -> Task:
    return build_task(CONFIGS[name])


def same(a: Batch, b: Batch) -> bool:
    return (
        torch.equal(a.x, b.x)
        and torch.equal(a.y, b.y)
        and torch.equal(a.mask, b.mask)
        and torch.equal(a.eval_mask, b.eval_mask)
        and a.meta.keys() == b.meta.keys()
        and all(torch.equal(a.meta[k], b.meta[k]) for k in a.meta)
    )


def tokens(b: Batch) -> torch.Tensor:
    return b.x.argmax(dim=-1)


# ---------------------------------------------------------------- common contract


@pytest.mark.parametrize("name", NAMES)
def test_build_task_dispatch(name):
    t = build_task(CONFIGS[name])
    assert type(t) is TASKS[name]
    assert isinstance(t, Task)


def test_build_task_unknown_name():
    class Fake:
        name = "nope"

    with pytest.raises(ValueError, match="unknown task 'nope'"):
        build_task(Fake())


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_dtypes(name):
    t = task(name)
    n = 6
    b = t.generate(0, n)
    assert len(b) == n
    assert b.x.shape == (n, t.seq_len, t.input_size)
    assert b.x.dtype == torch.float32
    if t.readout == "per_step":
        assert b.y.shape == (n, t.seq_len)
    else:
        assert b.y.shape == (n,)
    assert b.y.dtype == (torch.float32 if t.kind == "regression" else torch.long)
    assert b.mask.shape == b.y.shape and b.mask.dtype == torch.bool
    assert b.eval_mask.shape == b.y.shape and b.eval_mask.dtype == torch.bool
    for v in b.meta.values():
        assert v.shape[0] == n
    if t.kind == "classification":
        assert int(b.y.min()) >= 0 and int(b.y.max()) < t.output_size
    if t.kind == "classification" and t.input_size > 1:  # copy_bai feeds one real channel
        # one-hot inputs
        assert torch.equal(b.x.sum(-1), torch.ones(n, t.seq_len))
        assert set(b.x.unique().tolist()) <= {0.0, 1.0}
    assert math.isfinite(t.chance_loss) and math.isfinite(t.chance_metric)
    assert t.metric in ("val/acc", "val/mse", "val/bpc")


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name):
    t = task(name)
    assert same(t.generate(7, 32), t.generate(7, 32))
    # a fresh instance from the same config gives the same data too
    assert same(task(name).generate(7, 32), t.generate(7, 32))
    assert not same(t.generate(7, 32), t.generate(8, 32))


@pytest.mark.parametrize("name", NAMES)
def test_no_global_rng(name):
    t = task(name)
    torch.manual_seed(0)
    np.random.seed(0)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = t.generate(3, 16)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    torch.manual_seed(123)
    np.random.seed(123)
    assert same(a, t.generate(3, 16))


@pytest.mark.parametrize("name", NAMES)
def test_slice_and_to(name):
    b = task(name).generate(0, 5)
    s = b.slice(1, 3)
    assert len(s) == 2 and torch.equal(s.x, b.x[1:3])
    assert same(b.to("cpu"), b)


def test_class_attributes():
    expect = {
        "copy": ("classification", "per_step", "val/acc", True),
        "delayed_recall": ("classification", "last", "val/acc", True),
        "qa_distance": ("classification", "last", "val/acc", True),
        "adding": ("regression", "last", "val/mse", False),
        "temporal_order": ("classification", "last", "val/acc", True),
        "charlm": ("classification", "per_step", "val/bpc", False),
        "copy_bai": ("classification", "per_step", "val/acc", True),
    }
    assert sorted(expect) == sorted(TASK_NAMES)
    for name, (kind, readout, metric, hib) in expect.items():
        t = task(name)
        assert (t.kind, t.readout, t.metric, t.higher_is_better) == (kind, readout, metric, hib)


def test_solved_criteria():
    assert task("copy").solved({"val/acc": 0.99})
    assert not task("copy").solved({"val/acc": 0.989})
    assert not task("copy").solved({"val/loss": 0.0})  # metric missing
    assert task("delayed_recall").solved({"val/acc": 1.0})
    assert not task("delayed_recall").solved({"val/acc": 0.98})
    assert task("qa_distance").solved({"val/acc": 0.95})
    assert not task("qa_distance").solved({"val/acc": 0.949})
    assert task("adding").solved({"val/mse": 0.001})
    assert not task("adding").solved({"val/mse": 0.002})
    assert not task("adding").solved({"val/mse": float("nan")})
    assert task("temporal_order").solved({"val/acc": 0.995})
    assert not task("temporal_order").solved({"val/acc": 0.98})
    assert not task("charlm").solved({"val/bpc": 0.0, "val/acc": 1.0})


# ---------------------------------------------------------------- core tasks: distance, source

CORE = list(CORE_TASKS)


def read_copy(t: Copy, b: Batch, i: int) -> tuple[int, int]:
    """(distance, source) of copy example ``i`` read from its tokens, checking the format."""
    row, L, K, A = tokens(b)[i].tolist(), t.seq_len, t.K, t.A
    source = next(p for p, s in enumerate(row) if s != 0)  # the first non-blank: a symbol
    symbols = row[source : source + K]
    assert all(1 <= s <= A for s in symbols)
    assert all(s == 0 for s in row[:source])  # left padding: blanks
    assert all(s == 0 for s in row[source + K : L - K - 1])  # the gap's blanks
    assert row[L - K - 1] == A + 1 and row.count(A + 1) == 1  # the delimiter
    assert all(s == 0 for s in row[L - K :])
    assert b.y[i].tolist() == [0] * (L - K) + symbols  # recall the symbols at the end, in order
    # symbol j is shown at source + j and recalled at L - K + j: the same distance for all
    return L - K - source, source


def read_delayed_recall(t: DelayedRecall, b: Batch, i: int) -> tuple[int, int]:
    row, L, A = tokens(b)[i].tolist(), t.seq_len, t.A
    cues = [p for p, s in enumerate(row) if 1 <= s <= A]
    assert len(cues) == 1
    source = cues[0]
    assert all(s == 0 for s in row[:source])
    assert all(A < s <= A + t.n_distractors for s in row[source + 1 : L - 1])
    assert row[L - 1] == t.marker
    assert int(b.y[i]) == row[source] - 1
    return L - 1 - source, source


def read_qa(t: QADistance, b: Batch, i: int) -> tuple[int, int]:
    row, L = tokens(b)[i].tolist(), t.seq_len
    k0, v0, marker = t.key0, t.value0, t.query_marker
    assert row[L - 2] == marker and marker not in row[: L - 2]
    query = row[L - 1]
    assert k0 <= query < v0  # the queried key is the last input token
    body = row[: L - 2]
    key_pos = [p for p, s in enumerate(body) if k0 <= s < v0]
    val_pos = [p for p, s in enumerate(body) if v0 <= s < marker]
    assert len(key_pos) == len(val_pos) == t.n_facts
    assert val_pos == [p + 1 for p in key_pos]  # every fact is key then value
    keys = [body[p] for p in key_pos]
    assert len(set(keys)) == t.n_facts  # distractor keys differ from the query and each other
    source = key_pos[keys.index(query)]
    assert int(b.y[i]) == body[source + 1] - v0  # answer = value right after the queried key
    d = (L - 1) - (source + 1)
    begin = next(p for p, s in enumerate(row) if s != 0)
    assert begin == L - d - 2 * t.n_facts  # the example fills its last d + 2*n_facts steps
    assert min(key_pos) >= begin
    assert all(
        1 <= s <= t.n_filler
        for p, s in enumerate(body[begin:], begin)
        if p not in key_pos + val_pos
    )
    return d, source


READERS = {"copy": read_copy, "delayed_recall": read_delayed_recall, "qa_distance": read_qa}


def test_the_core_tasks_are_the_distance_tasks_and_each_has_a_token_reader():
    assert sorted(READERS) == sorted(CORE)
    assert set(CORE) == {n for n in TASK_NAMES if CONFIGS[n].has_distances}


@pytest.mark.parametrize("name", CORE)
def test_distance_and_source_against_the_tokens(name):
    t = task(name)
    b = t.generate(4, 300)
    d, src = b.meta["distance"], b.meta["source"]
    assert d.dtype == src.dtype == torch.long and d.shape == src.shape == (300,)
    for i in range(len(b)):
        assert READERS[name](t, b, i) == (int(d[i]), int(src[i]))
    assert set(d.tolist()) == set(range(t.d_min, t.d_max + 1))  # the whole range is drawn


@pytest.mark.parametrize("name", CORE)
def test_d_range_narrows_the_draw_not_the_length(name):
    t = task(name)
    lo, hi = t.d_min, t.d_min + 3
    b = t.generate(5, 200, d_range=(lo, hi))
    assert set(b.meta["distance"].tolist()) == set(range(lo, hi + 1))
    assert b.x.shape[1] == t.seq_len
    for i in range(len(b)):
        assert READERS[name](t, b, i)[0] == int(b.meta["distance"][i])
    with pytest.raises(ValueError, match="inside"):
        t.generate(0, 4, d_range=(t.d_min, t.d_max + 1))


@pytest.mark.parametrize("name", CORE)
def test_padding_never_reaches_the_loss(name):
    """The loss's gradient with respect to the outputs is zero at every padded step, and the
    loss does not change when the padded inputs, outputs and targets change."""
    t = task(name)
    b = t.generate(6, 64)
    g = torch.Generator().manual_seed(0)
    L = t.seq_len
    start = b.meta["source"]  # copy and delayed recall: the example starts at its source
    if name == "qa_distance":  # distractor facts may come before the queried fact
        start = L - b.meta["distance"] - 2 * t.n_facts
    pad = torch.arange(L)[None, :] < start[:, None]
    assert pad.any() and (tokens(b)[pad] == 0).all()
    if t.readout == "last":  # one target, at the last step, which is never padding
        assert b.y.shape == (64,) and b.mask.all() and not pad[:, -1].any()
        return
    out = torch.randn(64, L, t.output_size, generator=g, dtype=torch.float64, requires_grad=True)
    loss = loss_sum(t, out, b.y, b.mask) / b.mask.sum()
    (grad,) = torch.autograd.grad(loss, out)
    assert (grad[pad] == 0).all() and (grad[~pad].abs().sum(-1) > 0).all()
    assert torch.equal(b.mask, ~pad)
    y2 = b.y.clone()
    y2[pad] = 1  # a different target on the padding
    with torch.no_grad():
        assert float(loss_sum(t, out, y2, b.mask)) == float(loss_sum(t, out, b.y, b.mask))


# ---------------------------------------------------------------- copy


def test_copy_worked_example():
    t = Copy(config.CopyTask(A=3, K=2, d_min=4, d_max=6))
    assert (t.seq_len, t.delimiter, t.input_size, t.output_size) == (8, 4, 5, 4)
    b = t.generate(0, 200)
    i = int((b.meta["distance"] == 5).nonzero()[0])
    row = tokens(b)[i].tolist()
    assert row[0] == 0 and row[3:] == [0, 0, 4, 0, 0] and int(b.meta["source"][i]) == 1
    assert b.mask[i].tolist() == [False] + [True] * 7
    assert b.eval_mask[i].tolist() == [False] * 6 + [True] * 2


def test_copy_fixed_gap_form():
    """``T`` is the older fixed gap: d = T + K, no padding, the old layout exactly."""
    A, K, T = 4, 3, 7
    cfg = config.CopyTask(A=A, K=K, T=T)
    assert (cfg.d_min, cfg.d_max) == (T + K, T + K)
    t = Copy(cfg)
    assert (t.input_size, t.output_size, t.seq_len) == (A + 2, A + 1, T + 2 * K)
    b = t.generate(1, 200)
    tok = tokens(b)
    symbols = tok[:, :K]
    assert (tok[:, K : T + K - 1] == 0).all() and (tok[:, T + K - 1] == A + 1).all()
    assert torch.equal(b.y[:, T + K :], symbols) and b.mask.all()
    assert (b.meta["source"] == 0).all() and (b.meta["distance"] == T + K).all()
    with pytest.raises(ValueError, match="fixed-gap form"):
        config.CopyTask(K=3, T=7, d_min=4, d_max=20)


def test_copy_chance_loss_formula_and_brute_force():
    A, K, d_min, d_max = 8, 3, 4, 30
    t = Copy(config.CopyTask(A=A, K=K, d_min=d_min, d_max=d_max))
    # exact: every d equally likely, K ln A of loss per example over its K + d steps
    ds = range(d_min, d_max + 1)
    exact = sum(K * math.log(A) for _ in ds) / sum(K + d for d in ds)
    assert t.chance_loss == pytest.approx(exact, rel=1e-12)
    assert t.chance_metric == pytest.approx(1 / A)
    fixed = Copy(config.CopyTask(A=8, K=10, T=1000))
    assert fixed.chance_loss == pytest.approx(0.0204, abs=5e-5)  # Bai et al.'s baseline

    b = t.generate(0, 4000)
    L = t.seq_len
    # the best memoryless predictor: blank with prob 1 before the recall, uniform over the A
    # symbols during it (the recall always sits at the end: left padding)
    probs = torch.full((L, A + 1), 1e-300, dtype=torch.float64)
    probs[: L - K, 0] = 1.0
    probs[L - K :, 1:] = 1.0 / A
    out = probs.log().expand(len(b), L, A + 1)
    batch_loss = float(loss_sum(t, out, b.y, b.mask) / b.mask.sum())
    n_steps = int(b.mask.sum())
    assert batch_loss == pytest.approx(len(b) * K * math.log(A) / n_steps, rel=1e-9)
    assert batch_loss == pytest.approx(t.chance_loss, rel=0.02)  # the pooled expectation
    # no per-step memoryless predictor does better: the empirical entropy of the unpadded
    # targets at each step is at most that predictor's loss there
    freq = torch.zeros(L, A + 1, dtype=torch.float64)
    steps = torch.arange(L).expand_as(b.y)[b.mask]
    freq.index_put_((steps, b.y[b.mask]), torch.ones(n_steps, dtype=torch.float64), accumulate=True)
    counts = freq.sum(1, keepdim=True)
    p = freq / counts.clamp(min=1)
    ent = -(freq * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum() / n_steps
    assert float(ent) <= batch_loss + 1e-9
    assert float(ent) == pytest.approx(batch_loss, rel=0.02)


# ---------------------------------------------------------------- delayed recall


def test_delayed_recall_worked_example():
    t = DelayedRecall(config.DelayedRecallTask(A=3, n_distractors=2, d_min=2, d_max=5))
    assert (t.seq_len, t.marker, t.input_size, t.output_size) == (6, 6, 7, 3)
    b = t.generate(0, 200)
    i = int((b.meta["distance"] == 3).nonzero()[0])
    row = tokens(b)[i].tolist()
    assert row[:2] == [0, 0] and 1 <= row[2] <= 3 and set(row[3:5]) <= {4, 5} and row[5] == 6
    assert int(b.y[i]) == row[2] - 1 and int(b.meta["source"][i]) == 2


def test_delayed_recall_chance_brute_force():
    t = DelayedRecall(config.DelayedRecallTask(A=5, d_min=1, d_max=20))
    assert t.chance_loss == pytest.approx(math.log(5)) and t.chance_metric == pytest.approx(0.2)
    b = t.generate(1, 20000)
    # a memoryless predictor sees only the marker at the last step: the cue is uniform there
    freq = torch.bincount(b.y, minlength=5).double() / len(b)
    assert float(-(freq * freq.log()).sum()) == pytest.approx(math.log(5), rel=1e-3)
    assert float(freq.max()) == pytest.approx(0.2, abs=0.01)


def test_delayed_recall_stream_form():
    A, D, L = 5, 3, 12
    cfg = config.DelayedRecallTask(A=A, D=D, L=L)  # D/L without a mode: the stream form
    assert cfg.mode == "stream" and not cfg.has_distances
    t = DelayedRecall(cfg)
    assert (t.input_size, t.output_size, t.seq_len, t.readout) == (A, A, L, "per_step")
    b = t.generate(0, 64)
    tok = tokens(b)
    for s in range(L):
        if s >= D:
            assert torch.equal(b.y[:, s], tok[:, s - D])
            assert b.mask[:, s].all()
        else:
            assert (b.y[:, s] == 0).all() and not b.mask[:, s].any()
    assert torch.equal(b.mask, b.eval_mask) and "distance" not in b.meta
    assert t.chance_loss == pytest.approx(math.log(A))
    with pytest.raises(ValueError, match="mode: stream"):
        config.DelayedRecallTask(mode="cue", D=3)


# ---------------------------------------------------------------- qa distance


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_facts=1, d_min=2, d_max=2),
        dict(n_facts=1, d_min=5, d_max=40),
        dict(n_facts=5, n_keys=5, d_min=2, d_max=2),  # tightest packing: no right-hand room
        dict(n_facts=6, n_keys=8, d_min=2, d_max=7),
        dict(n_facts=4, n_keys=4, d_min=30, d_max=30),
    ],
)
def test_qa_distance_edge_configs(kw):
    t = QADistance(config.QADistanceTask(**kw))
    b = t.generate(5, 600)
    for i in range(len(b)):
        assert read_qa(t, b, i) == (int(b.meta["distance"][i]), int(b.meta["source"][i]))
    assert set(b.meta["distance"].tolist()) == set(range(kw["d_min"], kw["d_max"] + 1))


def test_qa_distance_histogram_covers_range():
    t = QADistance(config.QADistanceTask(d_min=3, d_max=50, n_facts=2))
    d = t.generate(11, 5000).meta["distance"]
    counts = torch.bincount(d, minlength=51)[3:51]
    assert (counts > 0).all() and int(counts.sum()) == 5000
    assert int(counts.min()) > 0.5 * 5000 / 48  # roughly uniform
    assert (torch.bincount(d, minlength=51)[:3] == 0).all()


def test_qa_distance_values_and_keys_uniform():
    t = QADistance(config.QADistanceTask(n_keys=4, n_values=4, n_facts=2, d_max=10))
    b = t.generate(2, 4000)
    counts = torch.bincount(b.y, minlength=4)
    assert int(counts.min()) > 800
    query = tokens(b)[:, -1] - t.key0
    assert int(torch.bincount(query, minlength=4).min()) > 800


def test_qa_distance_distractor_layouts_uniform():
    # fixed d = 5, two facts: L = 5 + 4 = 9, the example fills all of it; queried key at 2,
    # value at 3; the distractor pair fits left (start 0) or right (4, 5): equally likely
    t = QADistance(config.QADistanceTask(n_facts=2, n_keys=3, d_min=5, d_max=5))
    L = t.seq_len
    tok = tokens(t.generate(0, 6000))
    starts = []
    for row in tok.tolist():
        ks = [p for p in range(L - 2) if t.key0 <= row[p] < t.value0 and p != 2]
        starts.append(ks[0])
    c = Counter(starts)
    assert set(c) == {0, 4, 5}
    assert min(c.values()) > 0.8 * 6000 / 3


def test_qa_distance_worked_example():
    t = QADistance(
        config.QADistanceTask(n_filler=2, n_keys=3, n_values=3, n_facts=2, d_min=2, d_max=5)
    )
    assert (t.seq_len, t.key0, t.value0, t.query_marker) == (9, 3, 6, 9)
    assert t.input_size == 10 and t.output_size == 3
    b = t.generate(0, 300)
    i = int((b.meta["distance"] == 4).nonzero()[0])
    row = tokens(b)[i].tolist()
    assert row[0] == 0 and row[7] == 9 and int(b.meta["source"][i]) == 3 and row[8] == row[3]


def test_qa_distance_chance_brute_force():
    t = QADistance(config.QADistanceTask(n_values=8))
    assert t.chance_loss == pytest.approx(math.log(8))
    assert t.chance_metric == pytest.approx(1 / 8)
    y = t.generate(0, 20000).y
    freq = torch.bincount(y, minlength=8).double() / len(y)
    assert float(-(freq * freq.log()).sum()) == pytest.approx(math.log(8), rel=1e-3)


# ---------------------------------------------------------------- adding


def test_adding_format():
    T = 15
    t = Adding(config.AddingTask(T=T))
    assert (t.input_size, t.output_size, t.seq_len) == (2, 1, T)
    b = t.generate(0, 500)
    values, marks = b.x[..., 0], b.x[..., 1]
    assert (values >= 0).all() and (values < 1).all()
    assert set(marks.unique().tolist()) == {0.0, 1.0}
    assert (marks.sum(dim=1) == 2).all()  # exactly two marks, so at distinct positions
    assert torch.allclose(b.y, (values * marks).sum(dim=1))
    pos = b.meta["positions"]
    assert (pos[:, 0] < pos[:, 1]).all()
    assert torch.equal(marks.nonzero()[:, 1].view(-1, 2), pos)
    # marked positions span the whole sequence
    assert set(pos.flatten().tolist()) == set(range(T))
    assert b.mask.all() and b.eval_mask.all()


def test_adding_two_steps():
    b = Adding(config.AddingTask(T=2)).generate(0, 10)
    assert (b.x[..., 1] == 1).all()


def test_adding_chance():
    t = Adding(config.AddingTask(T=20))
    assert t.chance_loss == pytest.approx(1 / 6)
    assert t.chance_metric == pytest.approx(1 / 6)
    b = t.generate(0, 20000)
    assert float(((b.y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.01)
    assert t.solved({"val/mse": 0.01 * 0.1767 - 1e-6})
    assert not t.solved({"val/mse": 0.01 * 0.1767 + 1e-6})


# ---------------------------------------------------------------- temporal order


@pytest.mark.parametrize("L", [10, 30, 57, 200])
def test_temporal_order_format(L):
    t = TemporalOrder(config.TemporalOrderTask(L=L))
    assert (t.input_size, t.output_size, t.seq_len) == (6, 4, L)
    b = t.generate(0, 400)
    tok = tokens(b)
    lo1, hi1 = math.floor(0.1 * L + 1e-9), math.floor(0.2 * L + 1e-9)
    lo2, hi2 = math.floor(0.5 * L + 1e-9), math.floor(0.6 * L + 1e-9)
    assert t.window1 == (lo1, hi1) and t.window2 == (lo2, hi2)
    relevant = tok < 2
    assert (relevant.sum(dim=1) == 2).all()
    pos = relevant.nonzero()[:, 1].view(-1, 2)
    assert torch.equal(pos, b.meta["positions"])
    assert ((pos[:, 0] >= lo1) & (pos[:, 0] < hi1)).all()
    assert ((pos[:, 1] >= lo2) & (pos[:, 1] < hi2)).all()
    first = tok.gather(1, pos[:, :1])[:, 0]
    second = tok.gather(1, pos[:, 1:])[:, 0]
    assert torch.equal(b.y, 2 * first + second)
    assert set(b.y.tolist()) == {0, 1, 2, 3}
    assert set(tok[~relevant].unique().tolist()) == {2, 3, 4, 5}


def test_temporal_order_chance():
    t = TemporalOrder(config.TemporalOrderTask())
    assert t.chance_metric == 0.25
    assert t.chance_loss == pytest.approx(math.log(4))


# ---------------------------------------------------------------- charlm


def test_charlm_builtin_hello():
    t = CharLM(config.CharLMTask(seq_len=8))
    assert t.chars == [" ", "e", "h", "l", "o"]
    assert t.input_size == t.output_size == 5 and t.seq_len == 8
    assert t.chance_loss == pytest.approx(math.log(5))
    assert t.chance_metric == pytest.approx(math.log2(5))
    b = t.generate(0, 50)
    assert torch.equal(tokens(b)[:, 1:], b.y[:, :-1])  # y is x shifted by one
    for i in range(len(b)):
        o = int(b.meta["offset"][i])
        assert t.decode(tokens(b)[i]) == t.text[o : o + 8]
        assert t.decode(b.y[i]) == t.text[o + 1 : o + 9]
    assert b.mask.all() and b.eval_mask.all()


def test_charlm_file(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. ünïcode ✓\n" * 3
    p = tmp_path / "t.txt"
    p.write_text(text, encoding="utf-8")
    t = CharLM(config.CharLMTask(path=str(p), seq_len=20))
    assert t.chars == sorted(set(text))
    b = t.generate(4, 300)
    offsets = b.meta["offset"]
    assert int(offsets.min()) >= 0 and int(offsets.max()) <= len(text) - 21
    for i in range(len(b)):
        o = int(offsets[i])
        assert t.decode(b.y[i]) == text[o + 1 : o + 21]
        assert torch.equal(t.encode(text[o : o + 20]), tokens(b)[i])


def test_charlm_shortest_text(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("abc", encoding="utf-8")
    b = CharLM(config.CharLMTask(path=str(p), seq_len=2)).generate(0, 5)
    assert (b.meta["offset"] == 0).all()


def test_charlm_errors(tmp_path):
    with pytest.raises(ValueError, match="no such text file"):
        CharLM(config.CharLMTask(path=str(tmp_path / "missing.txt")))
    p = tmp_path / "short.txt"
    p.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match="at least seq_len\\+1 = 6"):
        CharLM(config.CharLMTask(path=str(p), seq_len=5))
    p.write_bytes(b"\xff\xfe\x00bad" * 20)
    with pytest.raises(ValueError, match="not UTF-8"):
        CharLM(config.CharLMTask(path=str(p), seq_len=5))
    with pytest.raises(ValueError, match="need at least"):
        build_task(config.CharLMTask(seq_len=300))
