"""Issue 17's answers on curves and samples whose answer is known: under-trained or bad? (the
trend verdict), and what a few seeds could have detected (the power column)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganlab.metrics.trend import trend, trend_text
from ganlab.study.power import detectable_difference, seeds_needed

EPOCHS = list(range(1, 31))


def _noisy(curve, seed=0, scale=1.0):
    return list(np.asarray(curve) + np.random.default_rng(seed).normal(0, scale, len(curve)))


def test_a_falling_fid_curve_is_still_improving():
    fid = _noisy([100 * math.exp(-e / 20) + 10 for e in EPOCHS])  # still dropping ~1.2 per epoch at 30
    t = trend(EPOCHS, fid, "fid", higher_is_better=False)
    assert t.verdict == "still improving" and t.slope < 0 and t.p_improving < 0.05


def test_a_flat_noisy_curve_has_plateaued():
    fid = _noisy([100 * math.exp(-e / 2) + 20 for e in EPOCHS], scale=1.0)  # flat from epoch ~10
    assert trend(EPOCHS, fid, "fid", higher_is_better=False).verdict == "plateaued"


def test_a_curve_past_its_best_by_more_than_the_margin_is_regressing():
    fid = [70 + abs(e - 10) * 3 for e in EPOCHS]  # best 70 at epoch 10, 130 at the end
    t = trend(EPOCHS, fid, "fid", higher_is_better=False)
    assert (t.verdict, t.best, t.best_epoch, t.last) == ("regressing", 70, 10, 130)


def test_higher_is_better_metrics_read_the_other_way():
    rising = [min(e / 10, 1.0) * 8 for e in range(1, 6)]  # modes covered rising to the end
    assert trend(range(1, 6), rising, "modes_covered", higher_is_better=True).verdict == "still improving"
    assert trend(range(1, 6), rising, "fid", higher_is_better=False).verdict == "regressing"


def test_two_evaluations_are_too_short_to_tell():
    assert trend([1, 2], [50.0, 40.0], "fid", higher_is_better=False).verdict == "too short"


def test_a_short_curve_that_still_falls_is_too_short_not_plateaued():
    # The quickstart's 5 epochs: the last 3 evaluations fall 19% but are not significant on 3 points.
    t = trend(range(1, 6), [488.0, 236.0, 150.0, 142.0, 122.0], "fid", higher_is_better=False)
    assert t.verdict == "too short" and t.p_improving > 0.05
    assert trend_text(t.to_json()) == "too short: fid -14/epoch in epochs 3-5, not significant (p 0.077)"
    flat = trend(range(1, 6), [488.0, 236.0, 150.0, 142.0, 151.0], "fid", higher_is_better=False)
    assert flat.verdict == "plateaued"


def test_the_detectable_difference_matches_its_formula_and_shrinks_with_seeds():
    control, variant = [10.0, 12.0, 14.0], [11.0, 13.0, 15.0]  # s = 2 on both sides, df = 4
    expected = (2.7764451 + 0.9409646) * math.sqrt(4 / 3 + 4 / 3)
    assert detectable_difference(control, variant) == pytest.approx(expected, rel=1e-5)
    more = detectable_difference(control * 3, variant * 3)
    assert more < expected / 2
    assert math.isnan(detectable_difference([1.0], [2.0, 3.0]))


def test_seeds_needed_detects_the_difference_it_promises():
    n = seeds_needed(2.0, 2.0, 2.0)
    assert n is not None and n > 3
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):  # simulated studies with a true difference of 2 and n seeds a side
        from scipy import stats as sps

        a, b = rng.normal(0, 2, n), rng.normal(2, 2, n)
        hits += sps.ttest_ind(a, b, equal_var=False).pvalue < 0.05
    assert 0.7 < hits / 400 < 0.92  # about the promised power of 0.8
