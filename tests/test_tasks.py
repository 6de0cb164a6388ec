"""Task generators (DESIGN §2): formats, determinism, no global RNG, baselines."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from rnnstudy import config
from rnnstudy.tasks import (
    Adding,
    Batch,
    CharLM,
    Copy,
    DelayedRecall,
    QADistance,
    Task,
    TemporalOrder,
    build_task,
)

CONFIGS = {
    "copy": config.CopyTask(A=4, K=3, T=7),
    "delayed_recall": config.DelayedRecallTask(A=5, D=3, L=12),
    "qa_distance": config.QADistanceTask(n_keys=5, n_values=4, n_facts=3, d_min=2, d_max=12),
    "adding": config.AddingTask(T=15),
    "temporal_order": config.TemporalOrderTask(L=30),
    "charlm": config.CharLMTask(seq_len=8),
}
CLASSES = {
    "copy": Copy,
    "delayed_recall": DelayedRecall,
    "qa_distance": QADistance,
    "adding": Adding,
    "temporal_order": TemporalOrder,
    "charlm": CharLM,
}
NAMES = list(CONFIGS)


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
    assert type(t) is CLASSES[name]
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
        "delayed_recall": ("classification", "per_step", "val/acc", True),
        "qa_distance": ("classification", "last", "val/acc", True),
        "adding": ("regression", "last", "val/mse", False),
        "temporal_order": ("classification", "last", "val/acc", True),
        "charlm": ("classification", "per_step", "val/bpc", False),
    }
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


# ---------------------------------------------------------------- copy


def test_copy_format():
    A, K, T = 4, 3, 7
    t = Copy(config.CopyTask(A=A, K=K, T=T))
    assert (t.input_size, t.output_size, t.seq_len) == (A + 2, A + 1, T + 2 * K)
    b = t.generate(1, 200)
    tok = tokens(b)
    L = T + 2 * K
    symbols = tok[:, :K]
    assert int(symbols.min()) >= 1 and int(symbols.max()) <= A
    assert (tok[:, K : T + K - 1] == 0).all()  # T-1 blanks
    assert (tok[:, T + K - 1] == A + 1).all()  # delimiter
    assert ((tok == A + 1).sum(dim=1) == 1).all()
    assert (tok[:, T + K :] == 0).all()  # K blanks
    assert torch.equal(b.y[:, T + K :], symbols)
    assert (b.y[:, : T + K] == 0).all()
    assert b.mask.all()
    expect_eval = torch.zeros(L, dtype=torch.bool)
    expect_eval[T + K :] = True
    assert (b.eval_mask == expect_eval).all()
    assert set(symbols.unique().tolist()) == set(range(1, A + 1))


def test_copy_worked_example_length():
    t = Copy(config.CopyTask(A=3, K=2, T=4))
    tok = tokens(t.generate(0, 1))[0]
    assert t.seq_len == 8 and int(tok[5]) == 4  # delimiter at T+K-1 as in the docstring


def test_copy_chance_loss_formula_and_brute_force():
    A, K, T = 8, 10, 30
    t = Copy(config.CopyTask(A=A, K=K, T=T))
    assert t.chance_loss == pytest.approx(K * math.log(A) / (T + 2 * K), rel=1e-12)
    assert Copy(config.CopyTask(T=1000)).chance_loss == pytest.approx(0.0204, abs=5e-5)  # Bai
    assert t.chance_metric == pytest.approx(1 / A)

    b = t.generate(0, 500)
    L = t.seq_len
    # the best memoryless predictor: blank with prob 1 for the first T+K steps, uniform over
    # the A symbols for the last K
    probs = torch.zeros(L, A + 1, dtype=torch.float64)
    probs[: T + K, 0] = 1.0
    probs[T + K :, 1:] = 1.0 / A
    p_target = probs[torch.arange(L).expand_as(b.y), b.y]
    ce = -(p_target.log() * b.mask).sum() / b.mask.sum()
    assert float(ce) == pytest.approx(t.chance_loss, rel=1e-9)
    # and no per-step memoryless predictor does better: the empirical per-step target
    # distribution's cross-entropy (the batch's conditional entropy) is near that value
    freq = torch.zeros(L, A + 1, dtype=torch.float64)
    freq.scatter_add_(1, b.y.T, torch.ones(L, len(b), dtype=torch.float64))
    freq /= len(b)
    ent = -(freq * torch.where(freq > 0, freq.log(), torch.zeros_like(freq))).sum(1).mean()
    assert float(ent) <= t.chance_loss + 1e-9
    assert float(ent) == pytest.approx(t.chance_loss, rel=0.02)


# ---------------------------------------------------------------- delayed recall


def test_delayed_recall_format():
    A, D, L = 5, 3, 12
    t = DelayedRecall(config.DelayedRecallTask(A=A, D=D, L=L))
    assert (t.input_size, t.output_size, t.seq_len) == (A, A, L)
    b = t.generate(0, 64)
    tok = tokens(b)
    for s in range(L):
        if s >= D:
            assert torch.equal(b.y[:, s], tok[:, s - D])
            assert b.mask[:, s].all()
        else:
            assert (b.y[:, s] == 0).all() and not b.mask[:, s].any()
    assert torch.equal(b.mask, b.eval_mask)
    assert t.chance_loss == pytest.approx(math.log(A))
    assert t.chance_metric == pytest.approx(1 / A)


# ---------------------------------------------------------------- qa distance


def check_qa(t: QADistance, b: Batch) -> None:
    tok = tokens(b)
    L = t.seq_len
    k0, v0, marker = t.key0, t.value0, t.query_marker
    assert L == t.d_max + 2 * t.n_facts + 2
    assert t.input_size == t.n_filler + t.n_keys + t.n_values + 1
    assert t.output_size == t.n_values
    d = b.meta["distance"]
    assert d.dtype == torch.long
    assert int(d.min()) >= t.d_min and int(d.max()) <= t.d_max
    assert b.mask.all() and b.eval_mask.all()
    for i in range(len(b)):
        row = tok[i].tolist()
        body = row[: L - 2]
        assert row[L - 2] == marker and marker not in body
        query = row[L - 1]
        assert k0 <= query < v0  # the queried key is the last input token
        key_pos = [p for p, s in enumerate(body) if k0 <= s < v0]
        val_pos = [p for p, s in enumerate(body) if v0 <= s < marker]
        assert len(key_pos) == len(val_pos) == t.n_facts
        assert val_pos == [p + 1 for p in key_pos]  # every fact is key then value
        keys = [body[p] for p in key_pos]
        assert len(set(keys)) == t.n_facts  # distractor keys differ from the query and each other
        qpos = key_pos[keys.index(query)]
        assert int(b.y[i]) == body[qpos + 1] - v0  # answer = value right after the queried key
        assert int(d[i]) == (L - 1) - (qpos + 1)


def test_qa_distance_format():
    t = QADistance(CONFIGS["qa_distance"])
    check_qa(t, t.generate(0, 300))


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
    b = t.generate(5, 200)
    check_qa(t, b)
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
    # fixed d: the distractor (2 cells) can start at any of the free starts, equally likely
    t = QADistance(config.QADistanceTask(n_facts=2, n_keys=3, d_min=5, d_max=5))
    L = t.seq_len  # 5 + 4 + 2 = 11; queried key at 4, value at 5
    tok = tokens(t.generate(0, 6000))
    starts = []
    for row in tok.tolist():
        ks = [p for p in range(L - 2) if t.key0 <= row[p] < t.value0 and p != 4]
        starts.append(ks[0])
    c = Counter(starts)
    assert set(c) == {0, 1, 2, 6, 7}  # left: 0..2 (pair must end before 4); right: 6, 7
    assert min(c.values()) > 0.8 * 6000 / 5


def test_qa_distance_worked_example_sizes():
    t = QADistance(
        config.QADistanceTask(n_filler=2, n_keys=3, n_values=3, n_facts=2, d_min=2, d_max=4)
    )
    assert t.seq_len == 10 and t.key0 == 2 and t.value0 == 5 and t.query_marker == 8
    assert t.input_size == 9 and t.output_size == 3


def test_qa_distance_chance():
    t = QADistance(config.QADistanceTask(n_values=8))
    assert t.chance_loss == pytest.approx(math.log(8))
    assert t.chance_metric == pytest.approx(1 / 8)


@pytest.mark.parametrize(
    "d_min,d_max,n_buckets",
    [(2, 50, 5), (2, 2, 5), (2, 4, 5), (3, 12, 3), (10, 109, 7), (2, 6, 5), (5, 5, 1)],
)
def test_buckets_cover_range(d_min, d_max, n_buckets):
    t = QADistance(config.QADistanceTask(d_min=d_min, d_max=d_max, n_buckets=n_buckets))
    bs = t.buckets()
    span = d_max - d_min + 1
    assert len(bs) == min(n_buckets, span)
    assert bs[0][0] == d_min and bs[-1][1] == d_max
    for (lo, hi), (lo2, _) in zip(bs, bs[1:], strict=False):
        assert lo <= hi and lo2 == hi + 1  # contiguous, no gaps or overlaps
    sizes = [hi - lo + 1 for lo, hi in bs]
    assert sum(sizes) == span and max(sizes) - min(sizes) <= 1
    d = torch.arange(d_min, d_max + 1)
    edges = t.bucket_edges(d)
    for dist, edge in zip(d.tolist(), edges.tolist(), strict=True):
        lo, hi = next(b for b in bs if b[0] <= dist <= b[1])
        assert edge == hi


def test_buckets_default():
    assert QADistance(config.QADistanceTask()).buckets() == [
        (2, 11),
        (12, 21),
        (22, 31),
        (32, 41),
        (42, 50),
    ]


def test_accuracy_by_bucket():
    t = QADistance(config.QADistanceTask(d_min=2, d_max=11, n_buckets=2))  # (2,6), (7,11)
    d = torch.tensor([2, 6, 7, 11, 11])
    correct = torch.tensor([True, True, True, False, False])
    assert t.accuracy_by_bucket(correct, d) == {6: 1.0, 11: pytest.approx(1 / 3)}
    assert t.accuracy_by_bucket(correct[:2], d[:2]) == {6: 1.0}


def test_memory_horizon():
    mh = QADistance.memory_horizon
    assert mh({10: 1.0, 20: 0.95, 30: 0.6}) == 20
    assert mh({10: 0.5, 20: 0.4}) == 0
    assert mh({}) == 0
    assert mh({10: 0.9, 20: 0.9}) == 20  # the threshold is inclusive
    assert mh({10: 0.5, 20: 0.92, 30: 0.1}) == 20  # largest passing edge, not contiguous
    assert mh({30: 0.95, 10: 0.99}) == 30  # key order does not matter


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
