"""``task.marks`` of the adding problem: ``anywhere`` (default) is the generator as it was,
draw for draw; ``halves`` puts one mark in [0, T//2) and one in [T//2, T) (Arjovsky et al.
2016, adding_problem.py:22-23)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnstudy.config import ConfigError, parse_run
from rnnstudy.tasks import build_task
from rnnstudy.tasks.adding import AddingTask


def _task(**kw):
    return build_task(AddingTask(**kw))


def _old_generate(T: int, seed: int, n: int):
    """The generator before ``marks`` existed (commit 3408189), verbatim."""
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, T, generator=g)
    first = torch.randint(0, T, (n,), generator=g)
    second = (first + torch.randint(1, T, (n,), generator=g)) % T
    positions = torch.stack([first, second], dim=1).sort(dim=1).values
    marks = torch.zeros(n, T)
    marks.scatter_(1, positions, 1.0)
    y = values.gather(1, positions).sum(dim=1)
    return torch.stack([values, marks], dim=2), y, positions


@pytest.mark.parametrize("seed,T", [(0, 50), (3, 7), (11, 1000)])
def test_anywhere_is_the_old_generator(seed, T):
    b = _task(T=T).generate(seed, 64)
    x, y, pos = _old_generate(T, seed, 64)
    # identical by construction: the same draws from the same generator, the same ops
    assert torch.equal(b.x, x) and torch.equal(b.y, y)
    assert torch.equal(b.meta["positions"], pos)
    assert torch.equal(b.meta["source"], pos[:, 0])


@pytest.mark.parametrize("T", [10, 7, 1000])
def test_halves_puts_one_mark_in_each_half_and_adds_them(T):
    b = _task(T=T, marks="halves").generate(5, 4000)
    pos = b.meta["positions"]
    half = T // 2
    assert bool((pos[:, 0] >= 0).all() and (pos[:, 0] < half).all())
    assert bool((pos[:, 1] >= half).all() and (pos[:, 1] < T).all())
    marks = b.x[:, :, 1]
    assert bool((marks.sum(dim=1) == 2).all())  # exactly two 1s, the rest 0
    rows = torch.arange(len(b))
    assert bool((marks[rows, pos[:, 0]] == 1).all() and (marks[rows, pos[:, 1]] == 1).all())
    want = b.x[rows, pos[:, 0], 0] + b.x[rows, pos[:, 1], 0]
    torch.testing.assert_close(b.y, want, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(b.y, (b.x[:, :, 0] * marks).sum(dim=1), rtol=1e-6, atol=1e-6)
    assert torch.equal(b.meta["source"], pos[:, 0])
    assert b.mask.all() and b.eval_mask.all()


def test_halves_is_uniform_within_each_half():
    """T = 10, 20,000 draws: each of the 5 steps of a half holds 1/5 of its marks (±0.012,
    about 4.2 binomial standard deviations), and the last step of an odd T can be marked."""
    n, T = 20000, 10
    pos = _task(T=T, marks="halves").generate(2, n).meta["positions"].numpy()
    for col, lo in ((0, 0), (1, 5)):
        counts = np.bincount(pos[:, col] - lo, minlength=5)
        assert counts.shape == (5,)
        np.testing.assert_allclose(counts / n, 0.2, atol=0.012)
    odd = _task(T=7, marks="halves").generate(2, 2000).meta["positions"].numpy()
    assert set(np.unique(odd[:, 1]).tolist()) == {3, 4, 5, 6}
    assert set(np.unique(odd[:, 0]).tolist()) == {0, 1, 2}


def test_halves_is_deterministic_by_seed_and_differs_from_anywhere():
    a = _task(T=20, marks="halves").generate(4, 32)
    b = _task(T=20, marks="halves").generate(4, 32)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = _task(T=20).generate(4, 32)
    assert torch.equal(a.x[:, :, 0], c.x[:, :, 0])  # the values are drawn first, the same
    assert not torch.equal(a.meta["positions"], c.meta["positions"])


def test_marks_config_parse_and_dump():
    with pytest.raises(ConfigError) as err:
        parse_run({"task": {"name": "adding", "marks": "thirds"}})
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("task.marks: Input should be 'anywhere' or 'halves'")
    # a config at the default dumps as before the field existed (its config_hash is unchanged)
    assert "marks" not in parse_run({"task": {"name": "adding"}}).model_dump()["task"]
    halves = parse_run({"task": {"name": "adding", "marks": "halves"}})
    assert halves.model_dump(mode="json")["task"]["marks"] == "halves"
    assert parse_run(halves.model_dump()).task.marks == "halves"
