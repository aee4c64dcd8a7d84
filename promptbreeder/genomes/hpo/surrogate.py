"""Surrogates and acquisition functions for choosing which configuration to evaluate next.

A surrogate predicts, for candidate points of the unit cube, a mean and a spread of the fitness (higher is
better: callers negate minimised scores). Acquisition turns (mean, spread) into one number to maximise:
expected improvement over the best fitness so far ("ei") or an upper confidence bound ("ucb").

`ForestSurrogate` is SMAC's choice for small, mixed, possibly categorical spaces: an extremely randomised
tree ensemble fitted on the evaluations so far, its spread the disagreement between trees. It costs
milliseconds, so it can screen many cheap candidates (perturbations, random samples, LLM proposals) for
each evaluation, which is what lets a 30-evaluation budget go further than the GA's tournaments alone.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

ACQUISITIONS = ("ei", "ucb")
MIN_SPREAD = 1e-9


class ForestSurrogate:
    """Mean and spread of fitness from an ExtraTrees ensemble; `seed` makes the fit reproducible."""

    def __init__(self, trees: int = 64, seed: int = 0):
        self.trees, self.seed = trees, seed
        self._forest = None

    def fit(self, points: Sequence[Sequence[float]], fitness: Sequence[float]) -> "ForestSurrogate":
        from sklearn.ensemble import ExtraTreesRegressor

        x, y = np.asarray(points, dtype=float), np.asarray(fitness, dtype=float)
        finite = np.isfinite(y)
        if finite.sum() < 2:
            raise ValueError("a surrogate needs at least two finite observations")
        # failed configurations count as the worst seen, so the forest learns to avoid their region
        y = np.where(finite, y, y[finite].min())
        self._forest = ExtraTreesRegressor(n_estimators=self.trees, min_samples_leaf=1, random_state=self.seed)
        self._forest.fit(x, y)
        return self

    def predict(self, points: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        if self._forest is None:
            raise RuntimeError("fit the surrogate before predicting")
        x = np.asarray(points, dtype=float)
        per_tree = np.stack([tree.predict(x) for tree in self._forest.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)


def acquisition(mean: float, spread: float, best: float, strategy: str = "ei", kappa: float = 1.0) -> float:
    """Expected improvement over `best`, or `mean + kappa * spread` (all in fitness: higher is better)."""
    if strategy not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {strategy!r}; available: {', '.join(ACQUISITIONS)}")
    spread = max(float(spread), MIN_SPREAD)
    if strategy == "ucb":
        return mean + kappa * spread
    z = (mean - best) / spread
    return (mean - best) * _normal_cdf(z) + spread * _normal_pdf(z)


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
