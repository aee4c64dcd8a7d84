"""`hpo/surrogate.py`: the tree-ensemble surrogate and the acquisition functions."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from promptbreeder.genomes.hpo.surrogate import ForestSurrogate, acquisition


def bump(x: float) -> float:
    return -(x - 0.7) ** 2


def test_the_forest_finds_where_a_smooth_function_peaks():
    rng = random.Random(0)
    xs = [rng.random() for _ in range(20)]
    forest = ForestSurrogate(seed=1).fit([[x] for x in xs], [bump(x) for x in xs])
    grid = np.linspace(0, 1, 101)
    mean, spread = forest.predict([[x] for x in grid])
    assert abs(grid[int(np.argmax(mean))] - 0.7) <= 0.1
    assert mean.shape == spread.shape == (101,) and (spread >= 0).all()


def test_the_trees_disagree_away_from_the_data_and_agree_on_it():
    xs = [0.0, 0.1, 0.2, 0.3, 0.9, 1.0]
    forest = ForestSurrogate(seed=0).fit([[x] for x in xs], [bump(x) for x in xs])
    _, spread = forest.predict([[0.1], [0.6]])
    assert spread[1] > spread[0]


def test_the_seed_decides_the_fit():
    xs = [[0.1, 0.5], [0.4, 0.2], [0.9, 0.9], [0.6, 0.3]]
    ys = [1.0, 2.0, 0.5, 3.0]
    points = [[0.5, 0.5], [0.2, 0.8]]
    first = ForestSurrogate(seed=3).fit(xs, ys).predict(points)
    again = ForestSurrogate(seed=3).fit(xs, ys).predict(points)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


def test_failed_observations_count_as_the_worst_seen():
    forest = ForestSurrogate(seed=0).fit([[0.0], [0.5], [1.0]], [1.0, -math.inf, 2.0])
    mean, _ = forest.predict([[0.5]])
    assert math.isfinite(mean[0]) and mean[0] >= 1.0 - 1e-9


def test_a_forest_needs_two_finite_observations_and_a_fit_before_predicting():
    with pytest.raises(ValueError, match="at least two finite"):
        ForestSurrogate().fit([[0.0], [1.0]], [1.0, math.nan])
    with pytest.raises(RuntimeError, match="fit the surrogate"):
        ForestSurrogate().predict([[0.5]])


def test_expected_improvement():
    assert acquisition(1.0, 0.0, best=0.5) == pytest.approx(0.5)  # a sure gain is the gain
    assert acquisition(0.0, 0.0, best=0.5) == pytest.approx(0.0, abs=1e-9)  # a sure loss is worth nothing
    # a chance of improving beats a slightly better mean that surely loses
    assert acquisition(0.3, 0.3, best=0.5) > acquisition(0.45, 0.0, best=0.5)
    assert acquisition(0.6, 0.1, best=0.5) > acquisition(0.5, 0.1, best=0.5) > 0


def test_upper_confidence_bound_and_unknown_names():
    assert acquisition(1.0, 0.5, best=9.0, strategy="ucb", kappa=2.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown acquisition 'pi'; available: ei, ucb"):
        acquisition(1.0, 0.5, best=0.0, strategy="pi")
