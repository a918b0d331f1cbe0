"""Statistics for comparing prompt versions, on the standard library's ``statistics`` (no numpy:
it is not a dependency).

- Rates: the Wilson score interval (good at small n and near 0 or 1), the two-proportion z-test
  (pooled) for p-values, and Newcombe's hybrid score interval (method 10) for a difference of two
  rates, which is built from the two Wilson intervals.
- Means: a percentile bootstrap interval (``BOOTSTRAP_RESAMPLES`` resamples, seeded, so a report
  is reproducible); above ``BOOTSTRAP_MAX_N`` values the normal interval is used instead, which the
  bootstrap converges to and which costs nothing at 100,000 samples. The p-value of a difference
  of means is the Mann-Whitney U test (normal approximation with tie and continuity corrections),
  which does not assume normal data: token counts and costs are heavily skewed.
- Paired verdicts (the pairwise judge, the replay): the exact two-sided sign test, and
  ``sign_verdict`` (too few to judge / better / worse / the caller's word for a tie).
- Two rates from small counts (the per-edit held-out evaluation; a failure cluster before and
  after a prompt version, a bullet's before/after): Fisher's exact test on the 2x2 table,
  one-sided (``greater``) or two-sided, from the hypergeometric distribution in log space
  (``math.lgamma``), so it stays exact to floating point at 100,000 PRs where ``math.comb``
  would build huge integers; and ``fisher_min_p``, the smallest p-value a table with given row
  totals can reach (a design that cannot reach ``alpha`` is "too few to judge" before anything
  is asked).
- Normal tails come from ``statistics.NormalDist`` (a p-value under about 1e-15 reads as 0).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev

STANDARD_NORMAL = NormalDist()
# The 97.5% quantile as tables print it; ``STANDARD_NORMAL.inv_cdf(0.975)`` is one ulp lower,
# which would move a Wilson bound at 0 successes from 0.0 to 3e-17.
Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_MAX_N = 1000
SEED = 20261121


@dataclass(frozen=True)
class Estimate:
    """A value with its sample size and 95% interval; ``value`` None when nothing supports it."""

    value: float | None
    n: int
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its 95% interval and a two-sided p-value."""

    delta: float
    low: float
    high: float
    p_value: float


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return STANDARD_NORMAL.cdf(-z)


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """The proportion ``successes / n`` with its Wilson score interval."""
    if n <= 0:
        return Estimate(value=None, n=0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(value=p, n=n, low=max(0.0, centre - half), high=min(1.0, centre + half))


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when it is undefined)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(s2 / n2 - s1 / n1) / se
    return min(1.0, 2 * normal_sf(z))


def rate_difference(s1: int, n1: int, s2: int, n2: int) -> Difference:
    """``p2 - p1`` with Newcombe's hybrid score interval and the two-proportion p-value."""
    a, b = wilson(s1, n1), wilson(s2, n2)
    assert a.value is not None and b.value is not None
    assert a.low is not None and a.high is not None and b.low is not None and b.high is not None
    delta = b.value - a.value
    low = delta - math.sqrt((b.value - b.low) ** 2 + (a.high - a.value) ** 2)
    high = delta + math.sqrt((b.high - b.value) ** 2 + (a.value - a.low) ** 2)
    return Difference(
        delta=delta,
        low=max(-1.0, low),
        high=min(1.0, high),
        p_value=two_proportion_p(s1, n1, s2, n2),
    )


def mean(values: Sequence[float]) -> float:
    return fmean(values)


def _stdev(values: Sequence[float]) -> float:
    """The sample standard deviation; 0 for fewer than two values."""
    return stdev(values) if len(values) >= 2 else 0.0


def _percentiles(sorted_values: list[float]) -> tuple[float, float]:
    count = len(sorted_values)
    low = sorted_values[int(0.025 * count)]
    high = sorted_values[min(count - 1, math.ceil(0.975 * count) - 1)]
    return low, high


def mean_estimate(values: Sequence[float], *, seed: int = SEED) -> Estimate:
    """The mean with a 95% bootstrap (or, for large n, normal) interval."""
    n = len(values)
    if n == 0:
        return Estimate(value=None, n=0)
    m = mean(values)
    if n == 1:
        return Estimate(value=m, n=1, low=m, high=m)
    if n > BOOTSTRAP_MAX_N:
        half = Z95 * _stdev(values) / math.sqrt(n)
        return Estimate(value=m, n=n, low=m - half, high=m + half)
    rng = random.Random(seed)  # noqa: S311 - resampling, not secrecy
    data = list(values)
    means = sorted(math.fsum(rng.choices(data, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    low, high = _percentiles(means)
    return Estimate(value=m, n=n, low=low, high=high)


def mean_difference(a: Sequence[float], b: Sequence[float], *, seed: int = SEED) -> Difference:
    """``mean(b) - mean(a)``: bootstrap (or normal) interval, Mann-Whitney p-value."""
    delta = mean(b) - mean(a)
    p_value = mann_whitney_p(a, b)
    if len(a) + len(b) > BOOTSTRAP_MAX_N:
        se = math.sqrt(_stdev(a) ** 2 / len(a) + _stdev(b) ** 2 / len(b))
        return Difference(delta, delta - Z95 * se, delta + Z95 * se, p_value)
    rng = random.Random(seed)  # noqa: S311 - resampling, not secrecy
    la, lb = list(a), list(b)
    deltas = sorted(
        math.fsum(rng.choices(lb, k=len(lb))) / len(lb)
        - math.fsum(rng.choices(la, k=len(la))) / len(la)
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    low, high = _percentiles(deltas)
    return Difference(delta, low, high, p_value)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected
    variance, continuity correction); 1.0 when every value is tied."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    in_a, in_b = Counter(a), Counter(b)
    rank_sum_a = 0.0
    tie_term = 0.0
    below = 0  # values ranked before the current group
    for value in sorted(in_a.keys() | in_b.keys()):
        size = in_a[value] + in_b[value]
        rank = below + (size + 1) / 2  # ranks are 1-based; ties share the average rank
        rank_sum_a += rank * in_a[value]
        tie_term += size**3 - size
        below += size
    u = rank_sum_a - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, 2 * normal_sf(z))


def sign_test(wins: int, losses: int) -> float | None:
    """Exact two-sided binomial sign test over the decided pairs; None with none decided."""
    n = wins + losses
    if n == 0:
        return None
    k = min(wins, losses)
    tail = math.fsum(math.comb(n, i) for i in range(k + 1)) / float(2**n)
    return min(1.0, 2 * tail)


def sign_verdict(
    wins: int, losses: int, p_value: float | None, *, min_decided: int, alpha: float, tie: str
) -> str:
    """What a sign test over paired outcomes says: "too few to judge" below ``min_decided``
    decided pairs, "better" or "worse" when ``p_value < alpha``, else ``tie``."""
    if wins + losses < min_decided or p_value is None:
        return "too few to judge"
    if p_value < alpha:
        return "better" if wins > losses else "worse"
    return tie


#: Probabilities within this relative distance of the observed table's count as equally
#: extreme in the two-sided test (as R's and SciPy's ``fisher.test`` do, against rounding).
FISHER_TIES = 1e-7


def fisher_exact(a: int, b: int, c: int, d: int, *, alternative: str = "greater") -> float:
    """Fisher's exact test on the table ``[[a, b], [c, d]]`` (rows: two groups; columns:
    success, failure), margins fixed.

    ``greater`` (one-sided): P(X >= a), the chance that the first row has this many successes
    or more if both rows had the same rate. ``two-sided``: the summed probability of every
    table no more likely than the observed one (the usual definition, as in R's
    ``fisher.test``; a relative tolerance of 1e-7 keeps equal probabilities equal). 1.0 when a
    row or a column is empty."""
    if min(a, b, c, d) < 0:
        raise ValueError(f"counts must not be negative: {[a, b, c, d]}")
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', not {alternative!r}")
    row1, row2, column1 = a + b, c + d, a + c
    low, high = max(0, column1 - row2), min(row1, column1)
    if not row1 or not row2 or low == high:
        return 1.0
    logs = {x: _log_hypergeometric(x, row1, row2, column1) for x in range(low, high + 1)}
    top = max(logs.values())
    mass = {x: math.exp(v - top) for x, v in logs.items()}
    if alternative == "greater":
        tail = [m for x, m in mass.items() if x >= a]
    else:
        tail = [m for m in mass.values() if m <= mass[a] * (1 + FISHER_TIES)]
    return min(1.0, math.fsum(tail) / math.fsum(mass.values()))


def _log_hypergeometric(x: int, row1: int, row2: int, column1: int) -> float:
    """log of C(row1, x) * C(row2, column1 - x): the weight of ``x`` of the ``column1``
    successes falling in the first row (the denominator C(row1 + row2, column1) cancels)."""
    return _log_comb(row1, x) + _log_comb(row2, column1 - x)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_min_p(row1: int, row2: int) -> float:
    """The smallest one-sided p-value Fisher's test can give with these row totals: every
    success in the first row, none in the second, i.e. ``1 / C(row1 + row2, row1)``."""
    if row1 <= 0 or row2 <= 0:
        return 1.0
    return 1 / math.comb(row1 + row2, row1)
