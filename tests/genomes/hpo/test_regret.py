"""Running best, Bayesmark-style normalised regret and bootstrap confidence intervals."""

from __future__ import annotations

import math
import random

import pytest

from promptbreeder.genomes.hpo.regret import best_so_far, bootstrap_ci, normalised_regret


def test_best_so_far_is_the_running_max():
    assert best_so_far([0.2, 0.1, 0.5, 0.3, 0.7]) == [0.2, 0.2, 0.5, 0.5, 0.7]
    assert best_so_far([]) == []
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        best_so_far([0.1, math.nan])


def test_normalised_regret_endpoints():
    assert normalised_regret([0.9, 0.9], best=0.9, reference=0.5) == [0.0, 0.0]  # perfect
    assert normalised_regret([0.5], best=0.9, reference=0.5) == [pytest.approx(1.0)]  # random reference
    curve = best_so_far([0.5, 0.6, 0.4, 0.8])
    assert normalised_regret(curve, 0.9, 0.5) == pytest.approx([1.0, 0.75, 0.75, 0.25])
    assert normalised_regret([1.0], 0.9, 0.5) == [0.0]  # better than "best" is clipped at 0
    assert normalised_regret([0.1], 0.9, 0.5) == [pytest.approx(2.0)]  # worse than random is kept
    # r2-like negative scores work the same way.
    assert normalised_regret([-1.0, 0.0], best=0.5, reference=-1.0) == pytest.approx([1.0, 1 / 3])


def test_normalised_regret_rejects_degenerate_tasks():
    with pytest.raises(ValueError, match="must exceed"):
        normalised_regret([0.5], best=0.5, reference=0.5)
    with pytest.raises(ValueError, match="finite"):
        normalised_regret([0.5], best=math.inf, reference=0.5)
    with pytest.raises(ValueError, match="NaN"):
        normalised_regret([math.nan], best=1.0, reference=0.5)


def test_bootstrap_ci_contains_the_mean_and_narrows_with_more_data():
    rng = random.Random(0)
    small = [rng.gauss(1.0, 1.0) for _ in range(10)]
    large = [rng.gauss(1.0, 1.0) for _ in range(1000)]
    mean_s, low_s, high_s = bootstrap_ci(small)
    mean_l, low_l, high_l = bootstrap_ci(large)
    assert mean_s == pytest.approx(sum(small) / len(small))
    assert low_s < mean_s < high_s and low_l < mean_l < high_l
    assert (high_l - low_l) < (high_s - low_s) / 4  # ~sqrt(100) = 10x narrower in theory
    assert 0.08 < high_l - low_l < 0.16  # 2 * 1.96 / sqrt(1000) = 0.124
    assert low_l < 1.0 < high_l


def test_bootstrap_ci_is_deterministic_and_level_aware():
    values = [0.1, 0.4, 0.35, 0.8, 0.2, 0.55]
    assert bootstrap_ci(values, rng_seed=3) == bootstrap_ci(values, rng_seed=3)
    assert bootstrap_ci(values, rng_seed=3) != bootstrap_ci(values, rng_seed=4)
    _, low90, high90 = bootstrap_ci(values, level=0.90)
    _, low99, high99 = bootstrap_ci(values, level=0.99)
    assert low99 <= low90 and high90 <= high99
    assert bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    assert bootstrap_ci([0.7] * 5) == pytest.approx((0.7, 0.7, 0.7))


@pytest.mark.parametrize("kwargs", [{"values": []}, {"values": [1.0], "level": 1.0}, {"values": [1.0], "n": 0}])
def test_bootstrap_ci_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(**kwargs)
