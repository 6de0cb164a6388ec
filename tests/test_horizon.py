"""The memory horizon (DESIGN §2.1), one definition: buckets, accuracy per bucket, contiguity,
capping; and that metrics.evaluate (the code that runs) uses it."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from rnnstudy import config, horizon
from rnnstudy.horizon import Horizon, accuracy_by_bucket, buckets, memory_horizon, run_horizon
from rnnstudy.metrics import evaluate
from rnnstudy.tasks import build_task


@pytest.mark.parametrize(
    "d_min,d_max,n_buckets",
    [(2, 50, 5), (2, 2, 5), (2, 4, 5), (3, 12, 3), (10, 109, 7), (2, 6, 5), (5, 5, 1)],
)
def test_buckets_cover_range(d_min, d_max, n_buckets):
    bs = buckets(d_min, d_max, n_buckets)
    span = d_max - d_min + 1
    assert len(bs) == min(n_buckets, span)
    assert bs[0][0] == d_min and bs[-1][1] == d_max
    for (lo, hi), (lo2, _) in zip(bs, bs[1:], strict=False):
        assert lo <= hi and lo2 == hi + 1  # contiguous, no gaps or overlaps
    sizes = [hi - lo + 1 for lo, hi in bs]
    assert sum(sizes) == span and max(sizes) - min(sizes) <= 1  # equal width as integers allow


def test_buckets_default_and_config():
    assert buckets(2, 50, 5) == [(2, 11), (12, 21), (22, 31), (32, 41), (42, 50)]
    assert config.QADistanceTask(d_min=2, d_max=50).buckets() == buckets(2, 50, 5)
    with pytest.raises(ValueError):
        buckets(5, 4, 2)


def test_accuracy_by_bucket_brute_force():
    rng = random.Random(0)
    edges = buckets(2, 31, 4)
    d = [rng.randint(2, 31) for _ in range(300)]
    right = [rng.randint(0, 3) for _ in d]
    total = [3] * len(d)
    got = accuracy_by_bucket(d, right, total, edges)
    for lo, hi in edges:
        sel = [i for i, x in enumerate(d) if lo <= x <= hi]
        assert got[hi] == pytest.approx(sum(right[i] for i in sel) / (3 * len(sel)), rel=1e-12)
    assert accuracy_by_bucket([2, 3], [1, 0], [1, 1], edges) == {9: 0.5}  # empty buckets left out


def test_horizon_contiguous_not_largest_passing():
    edges = [10, 20, 30, 40]
    # a later bucket passes after a failing one: the horizon stops at the failure
    assert memory_horizon({10: 1.0, 20: 0.95, 30: 0.6, 40: 0.97}, edges) == Horizon(20, False)
    assert memory_horizon({10: 0.9, 20: 0.9, 30: 0.89, 40: 0.9}, edges) == Horizon(20, False)


def test_horizon_all_pass_is_capped():
    h = memory_horizon({10: 0.99, 20: 0.95, 30: 0.92, 40: 0.9}, [10, 20, 30, 40])
    assert h == Horizon(40, True) and h.label() == "≥ 40"
    assert Horizon(17, False).label() == "17"


def test_horizon_first_bucket_fails():
    assert memory_horizon({10: 0.5, 20: 1.0, 30: 1.0}, [10, 20, 30]) == Horizon(0, False)


def test_horizon_missing_or_nan_bucket_fails():
    assert memory_horizon({10: 1.0, 30: 1.0}, [10, 20, 30]) == Horizon(10, False)
    assert memory_horizon({10: 1.0, 20: math.nan, 30: 1.0}, [10, 20, 30]) == Horizon(10, False)
    assert memory_horizon({}, []) == Horizon(0, False)


def test_horizon_brute_force_random_tables():
    rng = random.Random(1)
    for _ in range(200):
        edges = sorted(rng.sample(range(3, 80), rng.randint(1, 6)))
        acc = {e: rng.choice([0.3, 0.89, 0.9, 0.95, 1.0]) for e in edges}
        expect = 0
        for e in edges:  # brute force: walk up until the first failure
            if acc[e] < 0.9:
                break
            expect = e
        capped = all(a >= 0.9 for a in acc.values())
        assert memory_horizon(acc, edges) == Horizon(expect, capped)


def test_run_horizon_prefers_learned_d_max():
    assert run_horizon({"final/learned_d_max": 23.0, "final/memory_horizon": 40.0}, 40) == Horizon(
        23, False
    )
    assert run_horizon({"final/memory_horizon": 40.0}, 40) == Horizon(40, True)
    assert run_horizon({"final/learned_d_max": math.nan, "final/memory_horizon": 8.0}, 40) == (
        Horizon(8, False)
    )
    assert run_horizon({}, 40) is None


def test_horizon_module_is_torch_free():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(horizon))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(str(m).startswith(("torch", "pytorch_lightning")) for m in names)


@pytest.mark.parametrize(
    "cfg",
    [
        config.CopyTask(A=4, K=3, d_min=4, d_max=23, n_buckets=4),
        config.DelayedRecallTask(A=4, d_min=2, d_max=21, n_buckets=4),
        config.QADistanceTask(n_keys=4, n_values=4, n_facts=2, d_min=2, d_max=21, n_buckets=4),
    ],
)
def test_evaluate_accuracy_by_distance_brute_force(cfg):
    """metrics.evaluate's per-bucket accuracy and horizon against a per-example loop, for a
    prediction that is right exactly on the short distances (and on some long ones)."""
    task = build_task(cfg)
    b = task.generate(3, 400)
    d = b.meta["distance"]
    edges = cfg.buckets()
    g = torch.Generator().manual_seed(0)
    lucky = torch.rand(len(b), generator=g) < 0.5
    good = (d <= edges[1][1]) | lucky  # buckets 1-2 right, later ones half right
    shape = (*b.y.shape, task.output_size)
    out = torch.zeros(shape)
    wrong = (b.y + 1) % task.output_size
    target = torch.where(good.view(-1, *([1] * (b.y.dim() - 1))), b.y, wrong)
    out.scatter_(-1, target.unsqueeze(-1), 1.0)
    m = evaluate(task, out, b)
    for lo, hi in edges:
        right = total = 0
        for i in range(len(b)):
            if lo <= int(d[i]) <= hi:
                ok = (target[i] == b.y[i]) & b.eval_mask[i]
                right += int(ok.sum())
                total += int(b.eval_mask[i].sum())
        assert m[f"acc_by_distance/{hi}"] == pytest.approx(right / total, rel=1e-12)
    assert m["memory_horizon"] == edges[1][1]
    assert np.isclose(m["acc"], float((target == b.y)[b.eval_mask].float().mean()))
