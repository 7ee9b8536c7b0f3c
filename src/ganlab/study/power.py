"""What a comparison of few seeds could have detected: the minimum detectable difference.

"No significant difference" with 3 seeds often means "not enough seeds". For Welch's test at
level `alpha` (two-sided) and power `power`, the smallest true difference of means that the
seeds would detect, given the spreads they showed, is approximately

    MDD = (t_{1 - alpha/2, df} + t_{power, df}) * sqrt(s1^2 / n1 + s2^2 / n2)

with the Welch-Satterthwaite degrees of freedom df (the normal-approximation formula of power
analysis, with t quantiles for small samples; e.g. Cohen 1988, ch. 2). A verdict then reads "no
significant difference (smaller than MDD)", and the number of seeds that would detect a
difference d follows by solving the same formula for n.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

from ganlab.names import fmt


def welch_df(s1: float, n1: int, s2: float, n2: int) -> float:
    """Welch-Satterthwaite degrees of freedom of two samples' standard deviations and sizes."""
    a, b = s1 * s1 / n1, s2 * s2 / n2
    if a + b == 0:
        return float(n1 + n2 - 2)
    return (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))


def detectable_difference(
    control: Sequence[float], variant: Sequence[float], alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest difference of means Welch's test would detect with probability `power`, from
    the samples' sizes and spreads; NaN with fewer than 2 finite values on a side."""
    x = np.asarray([v for v in control if v is not None and math.isfinite(v)], dtype=np.float64)
    y = np.asarray([v for v in variant if v is not None and math.isfinite(v)], dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    s1, s2 = float(x.std(ddof=1)), float(y.std(ddof=1))
    df = welch_df(s1, len(x), s2, len(y))
    quantiles = sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)
    return float(quantiles * math.sqrt(s1 * s1 / len(x) + s2 * s2 / len(y)))


def paired_detectable_difference(differences: Sequence[float], alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean difference the paired t-test would detect with probability `power`, from
    the per-seed differences' spread: (t_{1-alpha/2, n-1} + t_{power, n-1}) s_d / sqrt(n); NaN with
    fewer than 2 finite differences."""
    d = np.asarray([v for v in differences if v is not None and math.isfinite(v)], dtype=np.float64)
    if len(d) < 2:
        return math.nan
    df = len(d) - 1
    return float((sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * d.std(ddof=1) / math.sqrt(len(d)))


def seeds_needed(
    difference: float,
    s1: float,
    s2: float,
    alpha: float = 0.05,
    power: float = 0.8,
    most: int = 100,
    paired: bool = False,
) -> int | None:
    """Seeds per side for Welch's test to detect `difference` with `power`, given the two sides'
    standard deviations; None if more than `most` would be needed. Paired (`s1` the spread of the
    per-seed differences, `s2` 0): seeds for the paired t-test. When nothing varies, the verdict
    comes from an exact test (`stats.compare`), which detects a constant difference once its
    smallest p-value is below alpha: 2 / C(2n, n) for the permutation test of two sides (4 seeds a
    side at 0.05), 2 / 2^n for the sign-flip test of paired differences (6 seeds at 0.05)."""
    for n in range(2, most + 1):
        if s1 == 0 and s2 == 0:
            smallest_p = 2 / 2**n if paired else 2 / math.comb(2 * n, n)
            if smallest_p < alpha and difference != 0:
                return n
            continue
        df = welch_df(s1, n, s2, n)
        quantiles = sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)
        if quantiles * math.sqrt((s1 * s1 + s2 * s2) / n) <= abs(difference):
            return n
    return None


def power_text(detectable: float, significant: bool) -> str:
    """What a verdict could have seen, for a table: "likely smaller than X" beside no significant
    difference, "detectable X" beside a significant one; "" when not measured (too few seeds)."""
    if math.isnan(detectable):
        return ""
    if math.isinf(detectable):
        return "undetectable with these seeds"
    return f"{'detectable' if significant else 'likely smaller than'} {fmt(detectable)}"
