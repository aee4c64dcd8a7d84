"""Random search and Optuna's samplers behind one ask/tell interface; the model-based ones must beat random on an
easy landscape."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from promptbreeder.genomes.hpo.baselines import (OPTUNA_SAMPLERS, SEARCHERS, OptunaSearch, RandomSearch, Searcher,
                                                  TPESearch, make_searcher, optuna_sampler, run_search)
from promptbreeder.genomes.hpo.space import SearchSpace

SPACE = SearchSpace.from_spec(
    {
        "x": {"type": "float", "low": -5.0, "high": 5.0},
        "y": {"type": "float", "low": -5.0, "high": 5.0},
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "n": {"type": "int", "low": 1, "high": 64, "log": True},
        "kind": {"type": "categorical", "choices": ["a", "b", "c"]},
    }
)


def quadratic(config: dict) -> float:
    """Maximum 0 at x=1.5, y=-2, lr=1e-3, n=8, kind="b"; a smooth bowl elsewhere."""
    return -(
        (config["x"] - 1.5) ** 2
        + (config["y"] + 2.0) ** 2
        + (math.log10(config["lr"]) + 3.0) ** 2
        + (math.log2(config["n"]) - 3.0) ** 2
        + (0.0 if config["kind"] == "b" else 4.0)
    )


def best_scores(name: str, seeds: range, budget: int = 40, direction: str = "maximize") -> list[float]:
    sign = 1.0 if direction == "maximize" else -1.0
    out = []
    for seed in seeds:
        history = run_search(make_searcher(name, SPACE, seed, direction), lambda c: sign * quadratic(c), budget)
        out.append(max(sign * score for _, score in history))
    return out


@pytest.mark.parametrize("name", ["tpe", "gp", "cmaes"])
def test_model_based_samplers_beat_random_on_a_quadratic(name):
    random_best = best_scores("random", range(5))
    model_best = best_scores(name, range(5))
    assert statistics.mean(model_best) > statistics.mean(random_best) + 1.0
    assert sum(t > r for t, r in zip(model_best, random_best)) >= 4


def test_tpe_minimises_when_asked():
    assert statistics.mean(best_scores("tpe", range(3), direction="minimize")) > statistics.mean(
        best_scores("random", range(3), direction="minimize")
    )


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_reproducible_by_seed_and_valid_configs(name):
    first = run_search(make_searcher(name, SPACE, 11), quadratic, 15)
    again = run_search(make_searcher(name, SPACE, 11), quadratic, 15)
    other = run_search(make_searcher(name, SPACE, 12), quadratic, 15)
    assert first == again
    assert first != other
    assert len(first) == 15
    assert all(SPACE.problems(config) == [] for config, _ in first)
    assert all(list(config) == SPACE.names for config, _ in first)  # space order, whatever the sampler did
    assert all(score == quadratic(config) for config, score in first)


def test_interface_and_factory():
    for name, cls in SEARCHERS.items():
        searcher = make_searcher(name, SPACE, 0)
        assert isinstance(searcher, cls) and isinstance(searcher, Searcher)
    with pytest.raises(ValueError, match="available: random, tpe, cmaes, gp, qmc"):
        make_searcher("bohb", SPACE, 0)
    with pytest.raises(ValueError, match="available: tpe, cmaes, gp, qmc"):
        optuna_sampler("bohb", 0)
    assert {make_searcher(n, SPACE, 0).sampler_name for n in OPTUNA_SAMPLERS} == set(OPTUNA_SAMPLERS)
    with pytest.raises(ValueError, match="direction"):
        make_searcher("tpe", SPACE, 0, direction="up")
    with pytest.raises(ValueError, match="budget"):
        run_search(RandomSearch(SPACE, 0), quadratic, -1)
    assert run_search(RandomSearch(SPACE, 0), quadratic, 0) == []
    assert TPESearch(SPACE, 0, direction="minimize").study.direction.name == "MINIMIZE"


@pytest.mark.parametrize("name", OPTUNA_SAMPLERS)
def test_optuna_samplers_accept_several_pending_asks_and_external_configs(name):
    searcher = make_searcher(name, SPACE, 0)
    assert isinstance(searcher, OptunaSearch)
    asked = [searcher.ask() for _ in range(3)]
    for config in reversed(asked):
        searcher.tell(config, quadratic(config))
    outside = {"x": 1.5, "y": -2.0, "lr": 1e-3, "n": 8, "kind": "b"}
    searcher.tell(outside, quadratic(outside))
    searcher.tell(searcher.ask(), float("nan"))
    states = [t.state.name for t in searcher.study.trials]
    assert states == ["COMPLETE"] * 4 + ["FAIL"]
    assert searcher.study.best_value == 0.0
    assert searcher.study.best_params == outside
    with pytest.raises(ValueError, match="invalid config"):
        searcher.tell({**outside, "x": 99.0}, 1.0)


def test_qmc_spreads_its_points_over_the_space():
    """Scrambled Sobol points: after Optuna's first (independent) trial, any 16 in a row from the start of the
    sequence put one x in each sixteenth of its range, which 16 random draws almost never do."""
    history = run_search(make_searcher("qmc", SPACE, 3), quadratic, 17)
    bins = {int((config["x"] + 5.0) / 10.0 * 16) for config, _ in history[1:]}
    assert len(bins) == 16


# -- outside candidates under TPE's acquisition (the config genome's hybrid) ------------------------------

LINE = SearchSpace.from_spec({"x": {"type": "float", "low": 0, "high": 1},
                              "k": {"type": "categorical", "choices": ["a", "b"]}})


def told_tpe(seed: int, n: int = 16) -> TPESearch:
    """TPE told `n` points of a peak at x = 0.7, kind b."""
    searcher = TPESearch(LINE, seed)
    rng = random.Random(100 + seed)
    for _ in range(n):
        config = LINE.sample(rng)
        searcher.tell(config, -(config["x"] - 0.7) ** 2 + (0.1 if config["k"] == "b" else 0.0))
    return searcher


def test_tpe_takes_an_outside_candidate_its_acquisition_rates_above_its_own_draws():
    """A grid over the whole space (x in steps of 0.001, both kinds) against TPE's 24 draws: the grid holds the
    acquisition's maximum up to a step, so a candidate wins, and it is what is asked. (A single candidate at
    the best point seen so far mostly loses to a draw: l(x)/g(x) need not peak there.)"""
    candidates = [{"x": i / 1000, "k": k} for k in "ab" for i in range(1001)]
    for seed in range(5):
        config, _, taken = told_tpe(seed).ask_with_state(candidates)
        assert taken is not None and config == candidates[taken], seed


def test_a_candidate_tpe_rates_below_its_own_draws_changes_nothing():
    for seed in range(5):
        plain, _, none = told_tpe(seed).ask_with_state()
        config, _, taken = told_tpe(seed).ask_with_state([{"x": 0.0, "k": "a"}])
        assert (none, taken) == (None, None) and config == plain, seed


def test_candidates_are_ignored_while_tpe_still_samples_at_random():
    from promptbreeder.genomes.hpo.baselines import TPE_STARTUP_TRIALS

    config, _, taken = told_tpe(0, n=TPE_STARTUP_TRIALS - 1).ask_with_state([{"x": 0.7, "k": "b"}])
    assert taken is None


@pytest.mark.parametrize("name", ["cmaes", "gp", "qmc"])
def test_samplers_without_that_acquisition_refuse_candidates(name):
    with pytest.raises(ValueError, match=f"{name} cannot score outside candidates; only tpe can"):
        make_searcher(name, LINE, 0).ask_with_state([{"x": 0.5, "k": "a"}])
