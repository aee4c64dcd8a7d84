"""Bayesmark-style normalised regret and bootstrap confidence intervals (scores: higher is better).

Contract
- `best_so_far(scores)`: the running maximum (what an optimiser would report after each evaluation).
- `normalised_regret(curve, best, reference)`: `(best - f) / (best - reference)` per point, clipped at 0.
  `best` is the best score any method found on the task (or a known optimum) and `reference` the mean
  score of random configs on it, so 0 means "as good as the best", 1 means "no better than a random
  config" and values above 1 (worse than random) are kept, not clipped, because they are informative.
  Pass a `best_so_far` curve to get the usual monotone regret curve. `best <= reference` is a ValueError:
  the task cannot separate methods, and dividing by a non-positive span would flip or explode regret.
- `bootstrap_ci(values)`: `(mean, low, high)` percentile bootstrap of the mean, deterministic per seed.
- NaN anywhere is a ValueError: objectives return a floor score instead of NaN, so a NaN is a bug upstream.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _no_nan(values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    for i, v in enumerate(out):
        if math.isnan(v):
            raise ValueError(f"{what}[{i}] is NaN")
    return out


def best_so_far(scores: Sequence[float]) -> list[float]:
    """Running maximum of `scores` (same length)."""
    curve: list[float] = []
    for score in _no_nan(scores, "scores"):
        curve.append(score if not curve else max(curve[-1], score))
    return curve


def normalised_regret(curve: Sequence[float], best: float, reference: float) -> list[float]:
    """`max(0, (best - f) / (best - reference))` for each `f` in `curve`; see the module docstring."""
    best, reference = float(best), float(reference)
    if not (math.isfinite(best) and math.isfinite(reference)):
        raise ValueError(f"best and reference must be finite (got best={best}, reference={reference})")
    if best <= reference:
        raise ValueError(f"best ({best}) must exceed the reference ({reference}) to normalise regret")
    span = best - reference
    return [max(0.0, (best - f) / span) for f in _no_nan(curve, "curve")]


def bootstrap_ci(
    values: Sequence[float], rng_seed: int = 0, n: int = 2000, level: float = 0.95
) -> tuple[float, float, float]:
    """`(mean, low, high)`: the sample mean and the percentile-bootstrap interval of the mean at `level`."""
    data = np.asarray(_no_nan(values, "values"), dtype=np.float64)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (got {n!r})")
    mean = float(data.mean())
    rng = np.random.default_rng(rng_seed)
    # Resample indices in (rows, size) blocks: vectorised, yet memory stays ~8 MB however many values.
    means = np.empty(n)
    step = max(1, 1_000_000 // data.size)
    for start in range(0, n, step):
        rows = min(step, n - start)
        means[start : start + rows] = data[rng.integers(0, data.size, size=(rows, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # With identical values (or n small) the quantiles may sit a rounding error off the mean; keep the order.
    return mean, min(float(low), mean), max(float(high), mean)
