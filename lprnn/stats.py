"""Uncertainty of reported numbers: Wilson intervals, seed summaries, bootstrap intervals.

- :func:`wilson_interval`: a proportion (accuracy, agreement) of one model on ``n`` clips.
- :func:`seed_summary`: a number measured once per seed: mean, standard deviation and the
  t-interval of the mean.
- :func:`bootstrap_interval`: any statistic of per-clip values, by resampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as scipy_stats


class SeedSummary(NamedTuple):
    mean: float
    std: float       # sample standard deviation over seeds (0 for one seed)
    ci_low: float
    ci_high: float
    n: int


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: expected 0 < confidence < 1")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``."""
    _check_confidence(confidence)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"successes={successes}, n={n}: expected 0 <= successes <= n, n >= 1")
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def seed_summary(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
    """Mean over seeds, their standard deviation and the t-interval of the mean."""
    _check_confidence(confidence)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 1 or not np.isfinite(x).all():
        raise ValueError(f"values={list(values)}: expected one or more finite numbers")
    mean = float(x.mean())
    if x.size == 1:
        return SeedSummary(mean, 0.0, mean, mean, 1)
    std = float(x.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, x.size - 1)) * std / math.sqrt(x.size)
    return SeedSummary(mean, std, mean - half, mean + half, int(x.size))


def bootstrap_interval(values: Sequence[float], statistic: Callable = np.mean,
                       n_resamples: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(values)``."""
    _check_confidence(confidence)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 1:
        raise ValueError("values: expected one or more numbers")
    rng = np.random.default_rng(seed)
    samples = [statistic(x[rng.integers(0, x.size, x.size)]) for _ in range(n_resamples)]
    low, high = np.quantile(samples, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
