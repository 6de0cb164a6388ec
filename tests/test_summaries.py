"""Gradient-profile summaries on profiles with a known answer; undefined ones are NaN."""

import math

import numpy as np
import pytest

from rnnstudy.instruments.summaries import summarise


def test_exponential_decay_half_life():
    L, h = 40, 5.0
    dist = np.arange(L)[::-1]  # steps back from the last step
    n = 3.0 * 0.5 ** (dist / h)
    s = summarise(n)
    assert s["half_life"] == pytest.approx(h, rel=1e-9)
    assert s["first"] == pytest.approx(n[0]) and s["last"] == pytest.approx(3.0)
    assert s["log10_ratio"] == pytest.approx(math.log10(n[0] / n[-1]))


def test_growth_gives_negative_half_life_and_reverse_flips():
    dist = np.arange(20)[::-1]
    n = 2.0 ** (dist / 4.0)  # doubles every 4 steps going back: exploding
    assert summarise(n)["half_life"] == pytest.approx(-4.0)
    assert summarise(n[::-1], reverse=True)["half_life"] == pytest.approx(-4.0)
    assert summarise(n[::-1], reverse=True)["first"] == pytest.approx(n[0])


def test_first_is_each_examples_first_informative_step():
    """first = mean over examples of n[b, source_b], not the norm at t = 0."""
    rng = np.random.default_rng(0)
    n = rng.uniform(0.5, 2.0, size=(5, 9))
    source = np.array([0, 3, 8, 2, 2])
    s = summarise(n, source=source)
    assert s["first"] == pytest.approx(np.mean([n[b, source[b]] for b in range(5)]))
    assert s["first"] != pytest.approx(n[:, 0].mean())
    assert s["last"] == pytest.approx(n[:, -1].mean())
    assert s["log10_ratio"] == pytest.approx(math.log10(s["first"] / s["last"]))
    # without sources: the first step in processing order
    assert summarise(n)["first"] == pytest.approx(n[:, 0].mean())
    assert summarise(n, reverse=True)["first"] == pytest.approx(n[:, -1].mean())


def test_zero_norm_gives_nan_not_a_clamped_number():
    """TBPTT_zero_first_norm (issue 13 defect 3): a zero first norm used to be clamped to 1e-30
    and logged as log10_ratio ≈ -29."""
    dist = np.arange(12)[::-1].astype(float)
    n = 0.5 ** (dist / 3.0)
    n[:4] = 0.0  # cut by truncated BPTT
    s = summarise(n)
    assert s["half_life"] == pytest.approx(3.0)  # zeros are left out of the fit
    assert math.isnan(s["first"]) and math.isnan(s["log10_ratio"])
    # one example out of three without gradient at its source: first is undefined
    m = np.ones((3, 12))
    m[1, :6] = 0.0
    assert math.isnan(summarise(m, source=np.array([8, 2, 9]))["first"])
    assert summarise(m, source=np.array([8, 7, 9]))["first"] == pytest.approx(1.0)
    # a profile with no gradient at all: everything undefined
    assert all(math.isnan(v) for v in summarise(np.zeros((2, 5))).values())
