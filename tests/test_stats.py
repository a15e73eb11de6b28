"""Intervals of lprnn.stats against closed forms and table values computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lprnn import stats

Z_975 = 1.959963984540054      # standard normal 97.5 % quantile (tables)
T_975_DF2 = 4.3026527   # Student t, 2 degrees of freedom, 97.5 % quantile (tables)


def _wilson(s: int, n: int, z: float = Z_975) -> tuple[float, float]:
    p = s / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("s, n", [(86, 100), (0, 20), (20, 20), (517, 600)])
def test_wilson_interval_is_the_closed_form(s, n):
    assert stats.wilson_interval(s, n) == pytest.approx(_wilson(s, n), abs=1e-12)


def test_wilson_interval_refuses_bad_counts():
    with pytest.raises(ValueError, match="successes=5, n=4"):
        stats.wilson_interval(5, 4)
    with pytest.raises(TypeError, match="successes=0.5"):
        stats.wilson_interval(0.5, 4)
    with pytest.raises(ValueError, match="confidence=1.5"):
        stats.wilson_interval(1, 4, confidence=1.5)


def test_seed_summary_is_the_t_interval_of_the_mean():
    values = [0.80, 0.86, 0.83]
    summary = stats.seed_summary(values)
    mean, std = sum(values) / 3, math.sqrt(sum((v - 0.83) ** 2 for v in values) / 2)
    half = T_975_DF2 * std / math.sqrt(3)
    assert summary == pytest.approx((mean, std, mean - half, mean + half, 3), abs=1e-8)


def test_one_seed_has_no_spread():
    assert stats.seed_summary([0.7]) == (0.7, 0.0, 0.7, 0.7, 1)
    with pytest.raises(ValueError, match="non-finite"):
        stats.seed_summary([0.7, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        stats.seed_summary([])


def test_bootstrap_interval_is_seeded_and_covers_the_percentiles():
    correct = np.r_[np.ones(80), np.zeros(20)]
    low, high = stats.bootstrap_interval(correct)
    assert stats.bootstrap_interval(correct) == (low, high)
    # independent side: the same resampling done by hand has percentiles close to scipy's
    rng = np.random.default_rng(1)
    means = rng.choice(correct, size=(4000, correct.size)).mean(axis=1)
    assert low == pytest.approx(np.percentile(means, 2.5), abs=0.015)
    assert high == pytest.approx(np.percentile(means, 97.5), abs=0.015)
    assert stats.bootstrap_interval([3.0]) == (3.0, 3.0)
    low_median, high_median = stats.bootstrap_interval(np.arange(50.0), statistic=np.median)
    assert low_median < 24.5 < high_median
