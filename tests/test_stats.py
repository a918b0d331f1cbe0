"""The statistics against hand-computed cases (values worked out on paper; see each comment)."""

from __future__ import annotations

import math

import pytest

from prompt_trainer.measure import stats


def test_wilson_interval_of_8_out_of_10() -> None:
    # p = 0.8, z^2/n = 0.38416: centre = (0.8 + 0.19208) / 1.38416 = 0.71683,
    # half = 1.96 * sqrt(0.016 + 0.009604) / 1.38416 = 0.22666 -> [0.4902, 0.9433]
    e = stats.wilson(8, 10)
    assert (e.value, e.n) == (0.8, 10)
    assert e.low == pytest.approx(0.4902, abs=1e-4)
    assert e.high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_at_the_edges_stays_inside_zero_and_one() -> None:
    # 0/5: centre = half = (3.8415/10) / 1.7683 = 0.2172 -> [0, 0.4345]
    e = stats.wilson(0, 5)
    assert e.low == 0.0 and e.high == pytest.approx(0.4345, abs=1e-4)
    assert stats.wilson(0, 0).value is None


def test_two_proportion_test() -> None:
    # 45/100 vs 60/100: pooled 0.525, se = sqrt(0.525 * 0.475 * 0.02) = 0.070622,
    # z = 0.15 / 0.070622 = 2.1240 -> p = 2 * (1 - Phi(2.1240)) = 0.03367
    assert stats.two_proportion_p(45, 100, 60, 100) == pytest.approx(0.03367, abs=1e-4)
    assert stats.two_proportion_p(5, 5, 5, 5) == 1.0  # no variance: no evidence of a change


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Stat. Med. 17:873, example (a): 56/70 - 48/80 = 0.2, method 10 gives
    # 0.0524 to 0.3339 (Wilson 56/70: 0.6918-0.8770; 48/80: 0.4905-0.7004).
    diff = stats.rate_difference(48, 80, 56, 70)
    assert diff.delta == pytest.approx(0.2)
    assert diff.low == pytest.approx(0.0524, abs=1e-4)
    assert diff.high == pytest.approx(0.3339, abs=1e-4)


def test_mann_whitney_without_ties() -> None:
    # a = 1,2,3 and b = 4,5,6: U = 0, mean 4.5, var = 9/12 * 7 = 5.25,
    # z = (4.5 - 0.5) / 2.29129 = 1.74574 -> p = 0.08086
    assert stats.mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.08086, abs=1e-4)


def test_mann_whitney_with_ties() -> None:
    # a = 1,2,2 and b = 2,3,4: ranks 1 | 3,3,3 | 5,6 -> R_a = 7, U = 1; tie term 3^3 - 3 = 24,
    # var = 9/12 * (7 - 24/30) = 4.65, z = (3.5 - 0.5) / 2.15639 = 1.39122 -> p = 0.16417
    assert stats.mann_whitney_p([1, 2, 2], [2, 3, 4]) == pytest.approx(0.16417, abs=1e-4)
    assert stats.mann_whitney_p([3, 3], [3, 3]) == 1.0


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean() -> None:
    values = [1.0, 2.0, 2.0, 3.0, 10.0, 4.0, 2.0, 1.0]
    first, second = stats.mean_estimate(values), stats.mean_estimate(values)
    assert first == second  # seeded
    assert first.value == pytest.approx(3.125)
    assert first.low is not None and first.high is not None
    assert 1.0 <= first.low < 3.125 < first.high <= 10.0


def test_large_samples_use_the_normal_interval() -> None:
    # 2,000 values alternating 0 and 1: mean 0.5, s = 0.50013, half = 1.96 * s / sqrt(2000)
    values = [float(i % 2) for i in range(2000)]
    e = stats.mean_estimate(values)
    half = stats.Z95 * math.sqrt(2000 * 0.25 / 1999) / math.sqrt(2000)
    assert e.low == pytest.approx(0.5 - half) and e.high == pytest.approx(0.5 + half)


def test_mean_difference_sign_and_p_value() -> None:
    diff = stats.mean_difference([1, 2, 3], [4, 5, 6])
    assert diff.delta == pytest.approx(3.0)
    assert diff.low > 0 and diff.p_value == pytest.approx(0.08086, abs=1e-4)


def test_fisher_exact_on_the_tea_tasting_table() -> None:
    # Fisher's lady tasting tea, [[3, 1], [1, 3]]: the hypergeometric weights of 0..4 over
    # C(8, 4) = 70 are 1, 16, 36, 16, 1 -> P(X >= 3) = 17/70, two-sided 34/70.
    assert stats.fisher_exact(3, 1, 1, 3) == pytest.approx(17 / 70)
    assert stats.fisher_exact(3, 1, 1, 3, alternative="two-sided") == pytest.approx(34 / 70)


def test_fisher_exact_on_the_example_clusters() -> None:
    # 4 of 6 PRs before, 1 of 6 after: weights of 0..5 over C(12, 5) = 792 are
    # 6, 90, 300, 300, 90, 6 -> two-sided (6 + 90 + 90 + 6) / 792, one-sided 96 / 792.
    assert stats.fisher_exact(4, 2, 1, 5, alternative="two-sided") == pytest.approx(192 / 792)
    assert stats.fisher_exact(4, 2, 1, 5) == pytest.approx(96 / 792)
    # 2 of 6 then 0 of 6: weights 15, 36, 15 over 66 -> two-sided 30/66, one-sided 15/66.
    assert stats.fisher_exact(2, 4, 0, 6, alternative="two-sided") == pytest.approx(30 / 66)
    assert stats.fisher_exact(2, 4, 0, 6) == pytest.approx(15 / 66)


def test_fisher_exact_degenerate_tables_and_large_counts() -> None:
    assert stats.fisher_exact(0, 6, 0, 6) == 1.0  # the cluster never occurred
    assert stats.fisher_exact(6, 0, 6, 0) == 1.0
    assert stats.fisher_exact(0, 0, 3, 4) == 1.0  # an empty group says nothing
    # 30% of 50,000 against 29% of 50,000: far past math.comb's comfort, still a probability,
    # and about the two-proportion test's p (z = 3.46 -> 5.4e-4).
    p = stats.fisher_exact(15_000, 35_000, 14_500, 35_500, alternative="two-sided")
    assert p == pytest.approx(stats.two_proportion_p(15_000, 50_000, 14_500, 50_000), rel=0.1)
    with pytest.raises(ValueError, match="counts"):
        stats.fisher_exact(-1, 2, 3, 4)


def test_fisher_one_sided_against_the_hypergeometric_worked_by_hand() -> None:
    # [[5, 1], [0, 6]]: 5 successes in all; P(X = 5) = C(6,5) C(6,0) / C(12,5) = 6/792, and
    # X cannot exceed 5, so the one-sided p is 6/792 = 0.00758; the only other table as
    # unlikely is X = 0 (C(6,0) C(6,5) / 792), so the two-sided p is 12/792 = 0.01515.
    assert stats.fisher_exact(5, 1, 0, 6) == pytest.approx(6 / 792)
    assert stats.fisher_exact(5, 1, 0, 6, alternative="two-sided") == pytest.approx(12 / 792)
    # [[3, 0], [0, 3]]: 1 / C(6,3) = 0.05 one-sided, twice that two-sided.
    assert stats.fisher_exact(3, 0, 0, 3) == pytest.approx(0.05)
    assert stats.fisher_exact(3, 0, 0, 3, alternative="two-sided") == pytest.approx(0.1)
    # [[2, 1], [1, 2]]: P(X >= 2) = (C(3,2) C(3,1) + C(3,3) C(3,0)) / C(6,3) = 10/20.
    assert stats.fisher_exact(2, 1, 1, 2) == pytest.approx(0.5)


def test_fisher_gives_no_evidence_when_every_row_succeeds_alike() -> None:
    # A judge that says "prevents" to every failure: one column is empty, p = 1.
    assert stats.fisher_exact(6, 0, 6, 0) == 1.0
    assert stats.fisher_exact(0, 4, 0, 4) == 1.0
    assert stats.fisher_exact(4, 0, 0, 0) == 1.0  # no second row: nothing to compare with
    # the reverse direction is not evidence for the first row
    assert stats.fisher_exact(0, 4, 4, 0) == pytest.approx(1.0)


def test_fisher_min_p_says_which_designs_can_reach_five_percent() -> None:
    assert stats.fisher_min_p(3, 3) == pytest.approx(1 / 20)  # cannot get below 0.05
    assert stats.fisher_min_p(3, 4) == pytest.approx(1 / 35)
    assert stats.fisher_min_p(4, 4) == pytest.approx(1 / 70)
    assert stats.fisher_min_p(3, 0) == 1.0
    with pytest.raises(ValueError, match="alternative"):
        stats.fisher_exact(1, 1, 1, 1, alternative="less")
