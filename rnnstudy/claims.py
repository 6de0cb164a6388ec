"""The standard for a printed claim (DESIGN §7): a statistic over seeds with its uncertainty,
and a verdict *held*, *missed* or *not separated*. One implementation, used by the tour and
every study that prints a claim. Torch-free and MLflow-free: it sees numbers per seed.

Three statistics:

* ``ratio_gap(slow, fast, at_least)`` — "``slow`` takes at least ``at_least`` × as long as
  ``fast``" (the speed form of the tour's claim). Values are per-seed step counts; a censored
  seed (never reached within its budget) is ``inf``. The statistic is the ratio of medians, its
  interval a percentile bootstrap over seeds (each group resampled on its own), and the rank
  statistic ``k/n``: of the ``n`` (slow seed, fast seed) pairs, ``k`` have slow > fast.
  *held*: ratio ≥ ``at_least`` and the interval's lower end > 1; *not separated*: the interval
  contains 1 (or fewer than ``MIN_SEEDS`` seeds a group); *missed*: otherwise.
* ``level_gap(low, high, ...)`` — "``high`` ≥ ``factor`` × ``low``" for horizons (the horizon
  form), same machinery on the ratio of medians with the extra floor ``high ≥ floor``.
* ``rate_summary(rates)`` — decay rates per seed (DESIGN §4: the slope of ``ln ρ`` or of
  ``ln credit`` per step, negative = decays): median with interval; the half-life is
  ``ln 2 / −median`` and reads "no decay" when the interval contains 0. Never a median of
  half-lives.
* ``faster_decay(a, b)`` — the mechanism line: do the slopes ``a`` fall below ``b``?

Worked example (speed form): RNN steps 900, 1100, 1300, inf, 1000; best gated 200, 300, 250,
300, 200: medians 1100 and 250, ratio 4.4; every one of the 25 pairs has RNN slower::

    >>> c = ratio_gap([900, 1100, 1300, float("inf"), 1000], [200, 300, 250, 300, 200], 3.0)
    >>> c.verdict, round(c.value, 1), c.rank
    ('held', 4.4, '25/25')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_SEEDS = 5  # DESIGN §7: at least 5 seeds per point before a claim can hold
N_BOOT = 2000
LEVEL = 0.95
HELD, MISSED, NOT_SEPARATED = "held", "missed", "not separated"


@dataclass(frozen=True)
class Claim:
    """One claim's statistic, interval, rank statistic and verdict."""

    verdict: str  # held / missed / not separated
    value: float  # the statistic (a ratio of medians)
    lo: float  # its bootstrap interval
    hi: float
    rank: str  # "k/n": pairs in the claimed order
    why: str = ""

    def text(self, what: str = "ratio") -> str:
        return (
            f"{self.verdict}: {what} {_num(self.value)} [{_num(self.lo)}, {_num(self.hi)}],"
            f" pairs {self.rank}" + (f"; {self.why}" if self.why else "")
        )


def fmt(x: float) -> str:
    """A statistic as text: 3 significant digits, "∞" for a censored median, "n/a" for NaN."""
    return _num(x)


def medians_of(values) -> float:
    """The median of a list of per-seed values, ``inf`` kept (see ``medians``)."""
    return _median(np.asarray(list(values), dtype=float))


def _num(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.3g}"


def medians(a: np.ndarray) -> np.ndarray:
    """Medians along the last axis that keep ``inf`` (censored seeds) as the largest values:
    the mean of the two middle values of an even count is ``inf`` when one is (np.median's
    interpolation would give NaN for ``inf, inf``)."""
    s = np.sort(a, axis=-1)
    n = s.shape[-1]
    hi = s[..., n // 2]
    if n % 2:
        return hi
    lo = s[..., n // 2 - 1]
    return np.where(np.isinf(hi), hi, (lo + hi) / 2)


def interval(samples: np.ndarray) -> tuple[float, float]:
    """The central ``LEVEL`` percentile interval of bootstrap samples, read off the sorted
    samples without interpolation (samples may be ``inf``)."""
    q = (1 - LEVEL) / 2
    lo, hi = np.quantile(samples, [q, 1 - q], method="inverted_cdf")
    return float(lo), float(hi)


def _median(a: np.ndarray) -> float:
    return float(medians(a)) if a.size else math.nan


def _ratio(num: float, den: float) -> float:
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den == 0:
        return math.inf if num > 0 else math.nan
    if math.isinf(num) and math.isinf(den):
        return math.nan
    return num / den


def bootstrap_ratio(
    num: Sequence[float], den: Sequence[float], seed: int = 0, n_boot: int = N_BOOT
) -> tuple[float, float]:
    """Percentile interval (``LEVEL``) of ``median(num) / median(den)``, each group resampled
    with replacement on its own. ``inf`` values (censored) are kept; a resample whose ratio is
    undefined (∞/∞) counts as NaN and is left out."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.size, size=(n_boot, a.size))
    ib = rng.integers(0, b.size, size=(n_boot, b.size))
    ma, mb = medians(a[ia]), medians(b[ib])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(mb == 0, np.where(ma > 0, np.inf, np.nan), ma / mb)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return math.nan, math.nan
    return interval(r)


def pairs_above(high: Sequence[float], low: Sequence[float]) -> tuple[int, int]:
    """(k, n): of the n pairs (h, l), k have h > l (ties count as not above)."""
    k = sum(1 for h in high for lo in low if h > lo)
    return k, len(high) * len(low)


def _enough(*groups: Sequence[float]) -> bool:
    return all(len(g) >= MIN_SEEDS for g in groups)


def ratio_gap(slow: Sequence[float], fast: Sequence[float], at_least: float) -> Claim:
    """Speed form: ``slow`` needs ≥ ``at_least`` × the steps of ``fast`` (see module doc)."""
    slow, fast = [float(x) for x in slow], [float(x) for x in fast]
    value = _ratio(_median(np.asarray(slow)), _median(np.asarray(fast)))
    lo, hi = bootstrap_ratio(slow, fast)
    k, n = pairs_above(slow, fast)
    rank = f"{k}/{n}"
    if not _enough(slow, fast):
        return Claim(NOT_SEPARATED, value, lo, hi, rank, f"fewer than {MIN_SEEDS} seeds")
    if math.isnan(value) or math.isnan(lo) or lo <= 1 <= hi:
        return Claim(NOT_SEPARATED, value, lo, hi, rank, "interval contains 1")
    if value >= at_least and lo > 1:
        return Claim(HELD, value, lo, hi, rank)
    why = "reversed" if hi < 1 else f"ratio below {at_least:g}"
    return Claim(MISSED, value, lo, hi, rank, why)


def level_gap(
    low: Sequence[float], high: Sequence[float], factor: float, floor: float, ceiling: float
) -> Claim:
    """Horizon form: the median of ``low`` lies in (0, ``ceiling``) and the median of ``high``
    is ≥ max(``factor`` × it, ``floor``), with the ratio's interval above 1."""
    low, high = [float(x) for x in low], [float(x) for x in high]
    ml, mh = _median(np.asarray(low)), _median(np.asarray(high))
    value = _ratio(mh, ml)
    lo, hi = bootstrap_ratio(high, low)
    k, n = pairs_above(high, low)
    rank = f"{k}/{n}"
    if not _enough(low, high):
        return Claim(NOT_SEPARATED, value, lo, hi, rank, f"fewer than {MIN_SEEDS} seeds")
    if not 0 < ml < ceiling:
        return Claim(MISSED, value, lo, hi, rank, f"median {_num(ml)} not in (0, {ceiling:g})")
    if math.isnan(lo) or lo <= 1 <= hi:
        return Claim(NOT_SEPARATED, value, lo, hi, rank, "interval contains 1")
    need = max(factor * ml, floor)
    if mh >= need and lo > 1:
        return Claim(HELD, value, lo, hi, rank)
    return Claim(MISSED, value, lo, hi, rank, f"median {_num(mh)} < {_num(need)}")


@dataclass(frozen=True)
class Rate:
    """A decay rate per step over seeds (a slope of a log: negative = decays): median and
    bootstrap interval."""

    median: float
    lo: float
    hi: float
    n: int

    @property
    def decays(self) -> bool | None:
        """True: interval below 0 (decay); False: above 0 (growth); None: contains 0."""
        if math.isnan(self.lo):
            return None
        if self.hi < 0:
            return True
        if self.lo > 0:
            return False
        return None

    def half_life_text(self) -> str:
        """``ln 2 / −median`` in steps, or "no decay" when the interval contains 0."""
        if self.n == 0 or math.isnan(self.median):
            return "n/a"
        if self.decays is None:
            return "no decay"
        h = math.log(2) / -self.median
        return f"{h:.3g}" if self.decays else f"{-h:.3g} (grows: doubling)"


def rate_summary(rates: Iterable[float], seed: int = 0, n_boot: int = N_BOOT) -> Rate:
    """Median decay rate over seeds (a slope: negative = decays) with a percentile bootstrap
    interval; NaNs are left out.

    >>> r = rate_summary([-0.10, -0.12, -0.09, -0.11, -0.10])
    >>> r.decays, r.half_life_text()
    (True, '6.93')
    >>> rate_summary([0.01, -0.02, 0.005, -0.01, 0.0]).half_life_text()
    'no decay'
    """
    x = np.asarray([r for r in rates if r is not None and not math.isnan(r)], dtype=float)
    if x.size == 0:
        return Rate(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    meds = medians(x[rng.integers(0, x.size, size=(n_boot, x.size))])
    return Rate(_median(x), *interval(meds), x.size)


def greater(a: Sequence[float], b: Sequence[float], why_not: str = "interval contains 0") -> Claim:
    """ "``a`` is larger than ``b``" over seeds: statistic median(a) − median(b) with a bootstrap
    interval (each group resampled on its own); held when the interval lies above 0, missed
    when below, not separated when it contains 0 or a group has fewer than ``MIN_SEEDS``.
    ``rank``: the pairs with a > b. NaNs are left out."""
    a = [float(x) for x in a if not math.isnan(x)]
    b = [float(x) for x in b if not math.isnan(x)]
    k, n = pairs_above(a, b)
    rank = f"{k}/{n}"
    if not a or not b:
        return Claim(NOT_SEPARATED, math.nan, math.nan, math.nan, rank, "no values")
    xa, xb = np.asarray(a), np.asarray(b)
    lo, hi = _difference_interval(xa, xb, medians)
    value = _median(xa) - _median(xb)
    return _sign_verdict(value, lo, hi, rank, _enough(a, b), "seeds", why_not)


def faster_decay(a: Sequence[float], b: Sequence[float]) -> Claim:
    """Mechanism line: do the slopes ``a`` (per seed) lie below ``b`` (``a`` decays faster)?
    ``greater(b, a)`` read back as median(a) − median(b): held when that difference's interval
    lies below 0. ``rank``: pairs with a < b."""
    c = greater(b, a)
    return Claim(c.verdict, -c.value, -c.hi, -c.lo, c.rank, c.why)


def rate_gap(events_a: Sequence[bool], events_b: Sequence[bool]) -> Claim:
    """ "Event rate of ``a`` above that of ``b``" (e.g. divergence without clipping vs with):
    statistic p_a − p_b with a bootstrap interval over runs; held when it lies above 0 (and
    each group has ≥ ``MIN_SEEDS`` runs). ``rank``: "k_a/n_a vs k_b/n_b"."""
    a = np.asarray([bool(x) for x in events_a], dtype=float)
    b = np.asarray([bool(x) for x in events_b], dtype=float)
    rank = f"{int(a.sum())}/{a.size} vs {int(b.sum())}/{b.size}"
    if not a.size or not b.size:
        return Claim(NOT_SEPARATED, math.nan, math.nan, math.nan, rank, "no runs")
    lo, hi = _difference_interval(a, b, lambda x: x.mean(axis=1))
    value = float(a.mean() - b.mean())
    return _sign_verdict(value, lo, hi, rank, _enough(a, b), "runs", "interval contains 0")


def _difference_interval(a: np.ndarray, b: np.ndarray, stat) -> tuple[float, float]:
    """Percentile interval of ``stat(a*) − stat(b*)`` over ``N_BOOT`` resamples, each group
    resampled with replacement on its own (seed 0: the same draws for the same sizes);
    undefined differences (∞ − ∞) are left out."""
    rng = np.random.default_rng(0)
    da = stat(a[rng.integers(0, a.size, size=(N_BOOT, a.size))])
    db = stat(b[rng.integers(0, b.size, size=(N_BOOT, b.size))])
    with np.errstate(invalid="ignore"):
        diff = da - db
    diff = diff[~np.isnan(diff)]
    return interval(diff) if diff.size else (math.nan, math.nan)


def _sign_verdict(
    value: float, lo: float, hi: float, rank: str, enough: bool, unit: str, why_not: str
) -> Claim:
    """The verdict of a difference: held when its interval lies above 0, missed ("reversed")
    when below, not separated when it contains 0 or a group has fewer than ``MIN_SEEDS``."""
    if not enough:
        return Claim(NOT_SEPARATED, value, lo, hi, rank, f"fewer than {MIN_SEEDS} {unit}")
    if lo > 0:
        return Claim(HELD, value, lo, hi, rank)
    if hi < 0:
        return Claim(MISSED, value, lo, hi, rank, "reversed")
    return Claim(NOT_SEPARATED, value, lo, hi, rank, why_not)
