"""The claim standard (DESIGN §7) on synthetic seed tables: separated, not separated, censored
seeds, ties, too few seeds; and the decay-rate aggregation (DESIGN §4)."""

import math

import numpy as np
import pytest

from rnnstudy import claims
from rnnstudy.claims import HELD, MISSED, NOT_SEPARATED, faster_decay, level_gap, ratio_gap

INF = math.inf


def test_separated_speed_gap_holds():
    c = ratio_gap([1000, 1200, 900, 1100, 1300], [100, 200, 150, 120, 180], 3.0)
    assert c.verdict == HELD
    assert c.value == pytest.approx(1100 / 150)
    assert 1 < c.lo <= c.value <= c.hi
    assert c.rank == "25/25"


def test_overlapping_seeds_are_not_separated():
    rng = np.random.default_rng(3)
    a, b = rng.normal(500, 100, 5), rng.normal(500, 100, 5)
    c = ratio_gap(a, b, 3.0)
    assert c.verdict == NOT_SEPARATED and c.lo <= 1 <= c.hi


def test_separated_but_below_the_factor_is_missed():
    c = ratio_gap([300, 310, 320, 330, 340], [150, 155, 160, 165, 170], 3.0)
    assert c.verdict == MISSED and c.lo > 1 and "below 3" in c.why


def test_reversed_gap_is_missed():
    c = ratio_gap([100, 110, 120, 130, 140], [900, 1000, 1100, 1200, 1300], 3.0)
    assert c.verdict == MISSED and c.hi < 1 and c.why == "reversed"


def test_censored_seeds_count_as_not_reached():
    """An RNN seed that never reached the distance is inf: it can only make the RNN slower,
    and a majority of censored seeds gives an infinite median (still held)."""
    fast = [100, 120, 140, 110, 130]
    c = ratio_gap([INF, INF, INF, 800, 900], fast, 3.0)
    assert c.verdict == HELD and math.isinf(c.value) and c.rank == "25/25"
    assert c.lo > 1
    # censoring in the fast group too: inf/inf resamples are undefined and left out
    c2 = ratio_gap([INF] * 5, [INF, 100, 100, 100, 100], 3.0)
    assert c2.verdict == HELD


def test_ties_do_not_count_as_above():
    c = ratio_gap([100] * 5, [100] * 5, 3.0)
    assert c.rank == "0/25" and c.value == 1 and c.verdict == NOT_SEPARATED


def test_fewer_than_five_seeds_are_never_held():
    c = ratio_gap([1000, 1100, 1200, 1300], [10, 20, 30, 40], 3.0)
    assert c.verdict == NOT_SEPARATED and "fewer than 5" in c.why


def test_even_count_median_with_censored_values():
    assert claims.medians(np.array([1.0, INF])) == INF
    assert claims.medians(np.array([INF, INF, 1.0, 2.0])) == INF
    assert claims.medians(np.array([1.0, 3.0, 2.0, 4.0])) == 2.5


def test_horizon_form():
    held = level_gap([10, 8, 12, 10, 9], [60, 60, 60, 45, 60], 3.0, floor=30, ceiling=60)
    assert held.verdict == HELD and held.value == pytest.approx(6.0)
    # the RNN reaches d_max too: the horizon form cannot hold (no gap to measure)
    capped = level_gap([60] * 5, [60] * 5, 3.0, floor=30, ceiling=60)
    assert capped.verdict == MISSED and "not in (0, 60)" in capped.why
    # gated far above but not 3x: missed
    near = level_gap([20, 21, 22, 20, 19], [40, 41, 42, 40, 43], 3.0, floor=30, ceiling=60)
    assert near.verdict == MISSED


def test_rate_near_zero_is_no_decay_not_a_huge_half_life():
    """Medians of half-lives jump (+5 and -157 give -76); rates do not: a rate interval that
    contains 0 reads "no decay", never a half-life of thousands of steps."""
    r = claims.rate_summary([-1e-4, 2e-4, -3e-4, 1e-4, 5e-5])
    assert r.decays is None and r.half_life_text() == "no decay"
    d = claims.rate_summary([-0.1, -0.12, -0.09, -0.11, -0.1])
    assert d.decays is True and d.half_life_text() == f"{math.log(2) / 0.1:.3g}"
    g = claims.rate_summary([0.05, 0.06, 0.04, 0.05, 0.05])
    assert g.decays is False and "grows" in g.half_life_text()
    assert claims.rate_summary([math.nan]).half_life_text() == "n/a"


def test_faster_decay_mechanism_line():
    rnn, lstm = [-0.4, -0.45, -0.42, -0.38, -0.41], [-0.1, -0.12, -0.15, -0.09, -0.11]
    assert faster_decay(rnn, lstm).verdict == HELD
    assert faster_decay(lstm, rnn).verdict == MISSED
    same = faster_decay([-0.4, -0.1, -0.3, -0.2, -0.25], [-0.35, -0.15, -0.28, -0.2, -0.22])
    assert same.verdict == NOT_SEPARATED


def test_greater_on_horizons():
    assert claims.greater([60, 60, 45, 60, 60], [10, 12, 8, 0, 15]).verdict == HELD
    same = claims.greater([20, 30, 25, 22, 28], [21, 29, 26, 20, 27])
    assert same.verdict == NOT_SEPARATED and same.lo <= 0 <= same.hi
    assert claims.greater([1, 2, 3, 4, 5], [10, 11, 12, 13, 14]).verdict == MISSED
    assert "fewer than 5" in claims.greater([60, 60], [1, 2]).why


def test_rate_gap_divergence():
    none, clipped = [True] * 5, [False] * 5
    c = claims.rate_gap(none, clipped)
    assert c.verdict == HELD and c.value == 1.0 and c.rank == "5/5 vs 0/5"
    half = claims.rate_gap([True, False, True, False, False], [False, True, False, False, False])
    assert half.verdict == NOT_SEPARATED
    assert claims.rate_gap([True] * 3, [False] * 3).verdict == NOT_SEPARATED  # 3 seeds


def test_claims_doctests():
    import doctest

    assert doctest.testmod(claims).failed == 0
