"""Verdict statistics against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from ganlab.study.stats import agreement, compare, overall_verdict, permutation_p_value, summarize, verdict_of


def test_summary_mean_and_t_interval_by_hand():
    s = summarize([1.0, 2.0, 3.0])
    # mean 2, s = 1, t_{0.975, 2} = 4.302653 (table value), half width 4.302653 / sqrt(3) = 2.484138
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)
    assert s.ci_low == pytest.approx(2 - 2.484138, abs=1e-6)
    assert s.ci_high == pytest.approx(2 + 2.484138, abs=1e-6)


def test_summary_of_one_value_has_no_interval_and_drops_nan():
    s = summarize([5.0, math.nan])
    assert s.n == 1 and s.mean == 5.0 and math.isnan(s.ci_low) and math.isnan(s.std)
    assert summarize([]).n == 0


def test_welch_unequal_sizes_and_variances_by_hand():
    c = compare([1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0], "m", higher_is_better=True)
    # variant: mean 2, var 1, n 3; control: mean 5, var 20/3, n 4
    # se^2 = 1/3 + (20/3)/4 = 2  ->  t = -3 / sqrt(2) = -2.121320
    # df = 2^2 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4 / 0.981481 = 4.075472
    assert c.difference == -3.0
    assert c.t == pytest.approx(-3 / math.sqrt(2), abs=1e-9)
    assert c.df == pytest.approx(4.075472, abs=1e-6)
    # t_{0.975, 4.075472} = 2.756285 -> half width 2.756285 * sqrt(2) = 3.897975
    assert c.diff_ci_low == pytest.approx(-3 - 3.897975, abs=1e-5)
    assert c.diff_ci_high == pytest.approx(-3 + 3.897975, abs=1e-5)
    assert c.p_value == pytest.approx(0.099913, abs=1e-5)
    # pooled sd = sqrt((2 * 1 + 3 * 20/3) / 5) = sqrt(4.4); J = 1 - 3 / 19
    assert c.hedges_g == pytest.approx(-3 / math.sqrt(4.4) * (1 - 3 / 19), abs=1e-9)
    assert c.verdict == "no significant difference"  # p = 0.0999 > 0.05


def test_significant_difference_with_four_degrees_of_freedom():
    c = compare([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], "fid", higher_is_better=False)
    # se = sqrt(2/3), t = 9 / sqrt(2/3) = 11.022704, df = 4 exactly
    t = 9 / math.sqrt(2 / 3)
    assert c.t == pytest.approx(t, abs=1e-9) and c.df == pytest.approx(4.0, abs=1e-12)
    # Student's t with 4 df has a closed-form CDF: F(t) = 1/2 + 3/8 x (1 - t^2 / (12 (1 + t^2/4))),
    # x = t / sqrt(1 + t^2/4)
    x = t / math.sqrt(1 + t * t / 4)
    p = 2 * (1 - (0.5 + 3 / 8 * x * (1 - t * t / (12 * (1 + t * t / 4)))))
    assert c.p_value == pytest.approx(p, rel=1e-6)
    assert c.hedges_g == pytest.approx(9 * 0.8, abs=1e-12)  # d = 9 / 1, J = 1 - 3/15
    assert c.verdict == "worse"  # FID went up: lower is better
    assert compare([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], "coverage", True).verdict == "better"


def test_verdict_flips_when_sides_swap():
    a, b = [0.8, 0.82, 0.81], [0.5, 0.55, 0.52]
    assert compare(a, b, "coverage", True).verdict == "better"
    assert compare(b, a, "coverage", True).verdict == "worse"


def test_too_few_seeds():
    c = compare([1.0], [2.0, 3.0], "fid", False)
    assert c.verdict == "too few seeds" and math.isnan(c.p_value)
    assert overall_verdict([c]) == "too few seeds"
    assert agreement("better", "too few seeds") is None


def test_zero_spread_on_both_sides_falls_back_to_the_exact_permutation_test():
    same = compare([10.0, 10.0, 10.0], [10.0, 10.0], "classes_covered", True)
    assert same.p_value == 1.0 and same.verdict == "no significant difference"
    # 2 + 2 seeds: 2 of the C(4, 2) = 6 splits are as extreme as the observed one
    few = compare([10.0, 10.0], [9.0, 9.0], "classes_covered", True)
    assert few.p_value == pytest.approx(1 / 3) and few.verdict == "no significant difference"
    assert math.isnan(few.hedges_g) and few.t == math.inf
    # 5 + 5 seeds: 2 / C(10, 5) = 2 / 252
    many = compare([10.0] * 5, [9.0] * 5, "classes_covered", True)
    assert many.p_value == pytest.approx(2 / 252) and many.verdict == "better"


def test_permutation_p_value_by_hand():
    # [1, 2] vs [3, 4]: |diff| = 2; splits {12|34}, {34|12} reach 2, the other 4 reach 0 or 1
    assert permutation_p_value([1.0, 2.0], [3.0, 4.0]) == pytest.approx(2 / 6)
    assert permutation_p_value([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_metric_without_direction_is_only_different():
    assert verdict_of(0.5, 0.001, None, 0.05) == "different"
    assert verdict_of(0.5, 0.2, None, 0.05) == "no significant difference"


def test_alpha_is_a_strict_threshold():
    assert verdict_of(1.0, 0.05, True, 0.05) == "no significant difference"
    assert verdict_of(1.0, 0.0499, True, 0.05) == "better"


def test_overall_verdict_and_agreement():
    better = compare([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], "a", True)
    worse = compare([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], "b", False)
    none = compare([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], "c", True)
    assert overall_verdict([better, none]) == "better"
    assert overall_verdict([worse, none]) == "worse"
    assert overall_verdict([better, worse]) == "mixed"
    assert overall_verdict([none]) == "no significant difference"
    assert agreement("same", "no significant difference") == "agrees"
    assert agreement("same", "better") == "contradicts"
    assert agreement("worse", "worse") == "agrees"
    assert agreement("worse", "better") == "contradicts"
    assert agreement("better", "no significant difference") == "not confirmed"
    assert agreement("better", "mixed") == "unclear"
