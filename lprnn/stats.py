"""Uncertainty of reported numbers: binomial, over-seeds and bootstrap intervals (scipy).

- An accuracy of one model on n clips, ``successes`` of them right: the Wilson score interval
  (:func:`wilson_interval`), which stays inside [0, 1] and is sensible near 0 and 1,

      p̂ = s/n,  z = Φ⁻¹(1 − (1 − c)/2),
      (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).

- A number measured once per seed (x_1 … x_n): mean, sample standard deviation (ddof = 1) and
  the t-interval of the mean (:func:`seed_summary`), mean ± t_{n−1, (1+c)/2} · std/√n.
- Any other statistic of per-clip values: a percentile bootstrap (:func:`bootstrap_interval`).

Two numbers whose intervals overlap are not reported as different.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats


class SeedSummary(NamedTuple):
    """Spread of one number over seeds: mean, sample std, t-interval of the mean, n seeds."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence={confidence!r}: expected a level in (0, 1), e.g. 0.95")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n`` (module docstring)."""
    _check_confidence(confidence)
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}={value!r}: expected an integer count")
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"successes={successes}, n={n}: expected 0 ≤ successes ≤ n, n ≥ 1")
    interval = _scipy_stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _finite_values(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{what}: got shape {array.shape}, expected a non-empty 1-D sequence")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: {int((~np.isfinite(array)).sum())} non-finite values, "
                         "expected finite numbers")
    return array


def seed_summary(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
    """Mean, std (ddof = 1) and t-interval of the mean of one number over seeds.

    For a single value the std is 0 and the interval is that value itself (no spread is known).
    """
    _check_confidence(confidence)
    x = _finite_values(values, "seed_summary values")
    mean = float(x.mean())
    if x.size == 1:
        return SeedSummary(mean, 0.0, mean, mean, 1)
    std = float(x.std(ddof=1))
    half = float(_scipy_stats.t.ppf((1 + confidence) / 2, df=x.size - 1)) * std / math.sqrt(x.size)
    return SeedSummary(mean, std, mean - half, mean + half, int(x.size))


def bootstrap_interval(values: Sequence[float], statistic: Callable[..., float] = np.mean,
                       n_resamples: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic(values)`` (resampling the values with
    replacement ``n_resamples`` times, seeded: the same call gives the same interval)."""
    _check_confidence(confidence)
    x = _finite_values(values, "bootstrap_interval values")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r}: expected a positive integer")
    if x.size == 1:
        value = float(statistic(x))
        return value, value
    result = _scipy_stats.bootstrap((x,), statistic, vectorized=False, n_resamples=n_resamples,
                                    confidence_level=confidence, method="percentile",
                                    random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
