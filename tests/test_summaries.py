"""Gradient-profile summaries on profiles with a known answer."""

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


def test_zeros_left_out_of_fit():
    dist = np.arange(12)[::-1].astype(float)
    n = 0.5 ** (dist / 3.0)
    n[:4] = 0.0  # cut by truncated BPTT
    s = summarise(n)
    assert s["half_life"] == pytest.approx(3.0)
    assert s["first"] == 0.0 and np.isfinite(s["log10_ratio"])
