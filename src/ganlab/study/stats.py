"""Verdicts from few seeds: Welch's t-test, t confidence intervals and Hedges' g.

With 3 seeds per side a permutation test cannot reach p < 0.05 (its smallest two-sided p-value
is 2/20 = 0.1), so the verdict comes from Welch's t-test, which does not assume equal variances
(Welch 1947). Effect size is Hedges' g, Cohen's d with the small-sample correction
J = 1 - 3 / (4 (n1 + n2) - 9) (Hedges 1981). No correction for multiple comparisons is made:
with many metrics and experiments, some "significant" verdicts at alpha = 0.05 are expected by
chance alone, and the report says so.

When both sides are milestones of the same runs (a study's nested runs: `fc` at epoch 30 against
`fc-epochs-50`, both from the 300-epoch run of each seed), the seeds pair the values, and
`compare(..., paired=True)` tests each seed's difference (Student's paired t-test; the exact sign-flip
permutation test when the differences do not vary).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np
from scipy import stats as sps

from ganlab.study.power import detectable_difference, paired_detectable_difference

Verdict = Literal["better", "worse", "different", "no significant difference", "too few seeds"]
Overall = Literal["better", "worse", "mixed", "different", "no significant difference", "too few seeds"]
NO_DIFFERENCE = "no significant difference"
TOO_FEW = "too few seeds"


@dataclass(frozen=True)
class Summary:
    """Mean of n values with a t-distribution confidence interval (NaN bounds when n < 2)."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN when n < 2
    ci_low: float
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean and `confidence` interval mean ± t_{(1+c)/2, n-1} · s / sqrt(n) of finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Comparison:
    """A variant against its control on one metric.

    `difference` is variant minus control, with its Welch confidence interval. `verdict` says
    whether the variant is better or worse (direction from `higher_is_better`), "different" for
    a metric without a better direction, or no significant difference at `alpha`.
    """

    metric: str
    higher_is_better: bool | None
    variant: Summary
    control: Summary
    difference: float
    diff_ci_low: float
    diff_ci_high: float
    t: float
    df: float
    p_value: float
    hedges_g: float
    verdict: Verdict
    alpha: float
    # The smallest difference these seeds would have detected (`ganlab.study.power`, power 0.8):
    # inf when neither side varies and the permutation test cannot reach alpha with so few seeds.
    detectable: float = math.nan
    paired: bool = False  # `compare(paired=True)`: t, df, p and the interval are of the per-seed differences
    diff_std: float = math.nan  # paired: the standard deviation of the per-seed differences


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a - mean b) / pooled sd, times J = 1 - 3 / (4 (n_a + n_b) - 9); NaN if the pooled sd is 0."""
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def compare(
    variant: Sequence[float],
    control: Sequence[float],
    metric: str = "",
    higher_is_better: bool | None = True,
    alpha: float = 0.05,
    confidence: float = 0.95,
    paired: bool = False,
) -> Comparison:
    """Welch's t-test of variant against control; fewer than 2 values on a side: "too few seeds".
    With `paired`, `variant[i]` and `control[i]` come from the same run (seed) and the test is of
    their differences (`_compare_paired`).

    t = (mean_v - mean_c) / se, se^2 = s_v^2 / n_v + s_c^2 / n_c, with Welch-Satterthwaite
    df = se^4 / ((s_v^2 / n_v)^2 / (n_v - 1) + (s_c^2 / n_c)^2 / (n_c - 1)). When both sides
    have zero spread, p is the exact permutation test's (see `permutation_p_value`).
    """
    if paired:
        return _compare_paired(variant, control, metric, higher_is_better, alpha, confidence)
    sv, sc = summarize(variant, confidence), summarize(control, confidence)
    difference = sv.mean - sc.mean
    nan = math.nan
    if sv.n < 2 or sc.n < 2:
        return Comparison(metric, higher_is_better, sv, sc, difference, nan, nan, nan, nan, nan, nan, TOO_FEW, alpha)
    a = np.asarray([v for v in variant if v is not None and math.isfinite(v)], dtype=np.float64)
    b = np.asarray([v for v in control if v is not None and math.isfinite(v)], dtype=np.float64)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(float(va + vb))
    if se == 0:
        # No spread on either side (a count metric, say 10 classes for every seed): the t-test is
        # undefined, so p comes from the exact permutation test, which needs enough seeds to
        # call a constant difference significant (2 + 2 seeds: p = 1/3; 5 + 5: p = 0.008).
        t, df = (0.0 if difference == 0 else math.copysign(math.inf, difference)), nan
        p = permutation_p_value(a, b)
        low = high = difference
        # Any constant difference is detected, or none: as the most extreme split would be.
        detectable = 0.0 if permutation_p_value(np.ones(len(a)), np.zeros(len(b))) < alpha else math.inf
    else:
        with warnings.catch_warnings():  # one side may have zero spread: fine for Welch
            warnings.simplefilter("ignore", RuntimeWarning)
            result = sps.ttest_ind(a, b, equal_var=False)
        t, p = float(result.statistic), float(result.pvalue)
        df = float((va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)))
        half = float(sps.t.ppf((1 + confidence) / 2, df)) * se
        low, high = difference - half, difference + half
        detectable = detectable_difference(b, a, alpha)
    return Comparison(
        metric, higher_is_better, sv, sc, difference, low, high, t, df, p, hedges_g(a, b),
        verdict_of(difference, p, higher_is_better, alpha), alpha, detectable,
    )  # fmt: skip


def _compare_paired(
    variant: Sequence[float], control: Sequence[float], metric: str, higher_is_better: bool | None, alpha: float,
    confidence: float,
) -> Comparison:  # fmt: skip
    """`compare` with `paired`: a paired t-test of variant against control, `variant[i]` and `control[i]` from the same run
    (seed); a pair with a missing or non-finite value is left out; fewer than 2 pairs: "too few seeds".

    With d_i = v_i - c_i over n pairs: t = mean(d) / (s_d / sqrt(n)), df = n - 1 (Student 1908).
    When every d_i is the same, p is the exact sign-flip permutation test's (`sign_flip_p_value`).
    """
    pairs = [(v, c) for v, c in zip(variant, control) if _finite(v) and _finite(c)]
    a = np.asarray([v for v, _ in pairs], dtype=np.float64)
    b = np.asarray([c for _, c in pairs], dtype=np.float64)
    sv, sc = summarize(a, confidence), summarize(b, confidence)
    d = a - b
    n, nan = len(d), math.nan
    if n < 2:
        return Comparison(
            metric, higher_is_better, sv, sc, sv.mean - sc.mean, nan, nan, nan, nan, nan, nan, TOO_FEW, alpha, paired=True
        )  # fmt: skip
    difference, s_d = float(d.mean()), float(d.std(ddof=1))
    if s_d == 0:
        # The same difference for every seed: t is undefined; the sign-flip test needs enough
        # seeds to call it significant (3 seeds: p = 0.25; 6: p = 0.03).
        t, df, p = (0.0 if difference == 0 else math.copysign(math.inf, difference)), nan, sign_flip_p_value(d)
        low = high = difference
        detectable = 0.0 if sign_flip_p_value(np.ones(n)) < alpha else math.inf
    else:
        df = float(n - 1)
        se = s_d / math.sqrt(n)
        t = difference / se
        p = float(2 * sps.t.sf(abs(t), df))
        half = float(sps.t.ppf((1 + confidence) / 2, df)) * se
        low, high = difference - half, difference + half
        detectable = paired_detectable_difference(d, alpha)
    return Comparison(
        metric, higher_is_better, sv, sc, difference, low, high, t, df, p, hedges_g(a, b),
        verdict_of(difference, p, higher_is_better, alpha), alpha, detectable, paired=True, diff_std=s_d,
    )  # fmt: skip


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def sign_flip_p_value(differences: Sequence[float]) -> float:
    """Exact two-sided sign-flip permutation test of paired differences (mean zero under the null):
    the share of all 2^n sign assignments whose |mean| is at least the observed one. Exact over
    every assignment, so meant for few seeds (at most 20)."""
    d = np.asarray(differences, np.float64)
    if len(d) > 20:
        raise ValueError(f"sign_flip_p_value enumerates every sign: expected at most 20 values, got {len(d)}")
    observed = abs(d.mean())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    means = np.abs(signs @ d) / len(d)
    return float(np.mean(means >= observed - 1e-12 * max(1.0, observed)))


def permutation_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided permutation test of the difference in means: the share of all splits of
    the pooled values into groups of len(a) and len(b) whose |mean difference| is at least the
    observed one (Fisher-Pitman). Exact over every split, so meant for few seeds (<= 12 each)."""
    pooled = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)])
    na, total = len(a), pooled.sum()
    if len(pooled) > 24:
        raise ValueError(f"permutation_p_value enumerates every split: expected at most 24 values, got {len(pooled)}")
    observed = abs(np.mean(a) - np.mean(b))
    hits = count = 0
    for chosen in itertools.combinations(range(len(pooled)), na):
        sum_a = pooled[list(chosen)].sum()
        diff = abs(sum_a / na - (total - sum_a) / (len(pooled) - na))
        hits += diff >= observed - 1e-12 * max(1.0, observed)
        count += 1
    return hits / count


def verdict_of(difference: float, p_value: float, higher_is_better: bool | None, alpha: float) -> Verdict:
    """better / worse (or "different" without a direction) when p < alpha, else no difference."""
    if not p_value < alpha or difference == 0:
        return NO_DIFFERENCE
    if higher_is_better is None:
        return "different"
    return "better" if (difference > 0) == higher_is_better else "worse"


def overall_verdict(comparisons: Iterable[Comparison]) -> Overall:
    """One word over the metrics: better (some better, none worse), worse, mixed, or none."""
    verdicts = [c.verdict for c in comparisons]
    if not verdicts or all(v == TOO_FEW for v in verdicts):
        return TOO_FEW
    better, worse = "better" in verdicts, "worse" in verdicts
    if better and worse:
        return "mixed"
    if better:
        return "better"
    if worse:
        return "worse"
    if "different" in verdicts:
        return "different"
    return NO_DIFFERENCE


def agreement(expected: str, overall: str) -> str | None:
    """The measured verdict against the study's claim: "agrees"; "contradicts" (the opposite
    direction, or a difference where the study saw none); "not confirmed" (the study saw a
    difference the seeds cannot show: absence of evidence, not evidence of absence); "unclear"
    (mixed or directionless); None when a side has too few seeds."""
    if overall == TOO_FEW:
        return None
    if overall in ("mixed", "different"):
        return "unclear"
    if expected == "same":
        return "agrees" if overall == NO_DIFFERENCE else "contradicts"
    if overall == NO_DIFFERENCE:
        return "not confirmed"
    return "agrees" if overall == expected else "contradicts"
