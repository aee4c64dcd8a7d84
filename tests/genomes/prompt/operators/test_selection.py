"""Operator selection policies (operators/selection.py): uniform is exactly today's draw, the bandit learns
from the run's operator statistics, explores, respects `avoid`, is seeded; the Mutator asks the policy; a
whole run with operator_selection=bandit continued from a saved step ends where an uninterrupted one ends."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from promptbreeder.config import resolve_config, setting_fields
from promptbreeder.genomes.prompt.mutation import Mutator, OperatorSource
from promptbreeder.errors import UsageError
from promptbreeder.genomes.prompt.operators.selection import POLICIES, get_policy, thompson, uniform

NAMES = ["zero_order", "first_order", "eda", "lineage"]
DRAWS = 2000


def stat(used: int, beat: int, failed: int = 0) -> dict[str, int]:
    return {"used": used, "failed": failed, "beat_parent": beat}


def counts(policy, stats, seed=0, draws=DRAWS, names=NAMES, avoid=None) -> Counter:
    rng = random.Random(seed)
    return Counter(policy(names, stats, rng, avoid) for _ in range(draws))


# --- uniform ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("avoid", [None, "eda", "not_registered"])
def test_uniform_is_exactly_one_rng_choice(avoid):
    ours, theirs = random.Random(11), random.Random(11)
    stats = {"eda": stat(50, 40)}  # statistics make no difference to it
    for _ in range(200):
        assert uniform(NAMES, stats, ours, avoid) == theirs.choice([n for n in NAMES if n != avoid])
    assert ours.getstate() == theirs.getstate(), "no other draw from the run's RNG"


def test_uniform_with_only_the_avoided_operator_returns_it():
    assert uniform(["eda"], {}, random.Random(0), "eda") == "eda"


# --- bandit ----------------------------------------------------------------------------------------------


def test_bandit_favours_the_operator_that_beats_its_parents():
    stats = {"zero_order": stat(100, 10), "first_order": stat(100, 60), "eda": stat(100, 10), "lineage": stat(100, 5)}
    got = counts(thompson, stats)
    # Beta(61, 41) against Beta(11, 91): the posteriors barely overlap
    assert got["first_order"] >= 0.99 * DRAWS, got
    assert counts(uniform, stats)["first_order"] < 0.35 * DRAWS, "uniform ignores the statistics"


def test_bandit_follows_moderate_differences_too():
    stats = {"zero_order": stat(40, 8), "first_order": stat(40, 16), "eda": stat(40, 8), "lineage": stat(40, 8)}
    got = counts(thompson, stats)
    assert got["first_order"] > 0.5 * DRAWS and got.most_common(1)[0][0] == "first_order", got


def test_bandit_explores_operators_never_used():
    stats = {"zero_order": stat(60, 6), "first_order": stat(60, 6), "eda": stat(60, 6)}  # no entry for lineage
    got = counts(thompson, stats)
    # Beta(1, 1) beats three Beta(7, 55) draws (mean 0.11) most of the time
    assert got["lineage"] > 0.6 * DRAWS, got
    # next to a good operator an untried one still gets tried now and then
    strong = {"zero_order": stat(100, 60), "first_order": stat(60, 6), "eda": stat(60, 6)}
    got = counts(thompson, strong)
    assert 0.15 * DRAWS < got["lineage"] < 0.65 * DRAWS and got["zero_order"] > 0.35 * DRAWS, got


def test_bandit_with_no_statistics_tries_every_operator():
    got = counts(thompson, {})
    assert set(got) == set(NAMES) and min(got.values()) > 0.15 * DRAWS, got


@pytest.mark.parametrize("policy", [uniform, thompson], ids=["uniform", "bandit"])
def test_avoid_is_respected(policy):
    stats = {"first_order": stat(100, 90)}  # the avoided one would otherwise win nearly always
    got = counts(policy, stats, avoid="first_order", draws=500)
    assert "first_order" not in got and set(got) <= set(NAMES)
    assert policy(["first_order"], stats, random.Random(0), "first_order") == "first_order", "no other to take"


def test_bandit_is_deterministic_for_a_seed_and_uses_only_the_given_rng():
    stats = {"zero_order": stat(10, 3), "eda": stat(5, 4)}
    random.seed(123)
    before = random.getstate()
    first = [thompson(NAMES, stats, rng, None) for rng in [random.Random(5)] for _ in range(300)]
    again = [thompson(NAMES, stats, rng, None) for rng in [random.Random(5)] for _ in range(300)]
    other = [thompson(NAMES, stats, rng, None) for rng in [random.Random(6)] for _ in range(300)]
    assert first == again and first != other
    assert random.getstate() == before, "the global RNG is never used"
    a, b = random.Random(9), random.Random(9)
    thompson(NAMES, stats, a, None)
    thompson(NAMES, stats, b, None)
    assert a.getstate() == b.getstate()


def test_bandit_tolerates_odd_statistics_and_leaves_them_alone():
    stats = {"zero_order": stat(3, 5), "first_order": {"used": 2}, "eda": {}}
    frozen = json.dumps(stats, sort_keys=True)
    assert thompson(NAMES, stats, random.Random(0), None) in NAMES
    assert json.dumps(stats, sort_keys=True) == frozen


# --- registry --------------------------------------------------------------------------------------------


def test_policies_registry_and_the_setting_agree():
    assert get_policy("uniform") is uniform and get_policy("bandit") is thompson
    assert setting_fields()["operator_selection"].metadata["choices"] == tuple(POLICIES)
    assert resolve_config({"task": "t"}).operator_selection == "uniform"
    assert resolve_config({"task": "t", "operator_selection": "bandit"}).operator_selection == "bandit"
    with pytest.raises(UsageError, match="--operator_selection: expected one of 'uniform', 'bandit', got 'greedy'"):
        resolve_config({"task": "t", "operator_selection": "greedy"})


def test_unknown_policy_lists_the_available_ones():
    with pytest.raises(UsageError) as exc:
        get_policy("greedy")
    assert str(exc.value) == "unknown operator selection policy 'greedy'; available: uniform, bandit"
    with pytest.raises(UsageError, match="available: uniform, bandit"):
        Mutator(source(), backend=None, selection="epsilon")


# --- the Mutator asks the policy -------------------------------------------------------------------------


def source(names=NAMES) -> OperatorSource:
    return OperatorSource(get_operator=lambda name: None, mutation_operator_names=lambda: list(names), post_mutation={})


def test_mutator_uniform_draws_as_before():
    mutator, rng, reference = Mutator(source(), backend=None), random.Random(3), random.Random(3)
    for avoid in [None, "eda", None, "zero_order"] * 25:
        assert mutator.choose(rng, avoid=avoid) == reference.choice([n for n in NAMES if n != avoid] or NAMES)
    assert rng.getstate() == reference.getstate()


def test_mutator_bandit_learns_from_its_statistics():
    mutator, rng = Mutator(source(), backend=None, selection="bandit"), random.Random(0)
    for name in NAMES:
        mutator.stats[name] = stat(50, 5)
    mutator.credit(["eda"] * 30)
    got = Counter(mutator.choose(rng) for _ in range(500))
    assert got["eda"] > 0.95 * 500, got
    assert "eda" not in {mutator.choose(rng, avoid="eda") for _ in range(100)}


def test_debug_mode_still_cycles_in_turn_with_the_bandit():
    mutator, rng = Mutator(source(), backend=None, debug=True, selection="bandit"), random.Random(0)
    mutator.stats["eda"] = stat(100, 99)
    state = rng.getstate()
    assert [mutator.choose(rng) for _ in range(2 * len(NAMES))] == NAMES * 2
    assert rng.getstate() == state and mutator.cursor == 2 * len(NAMES)


# --- a whole run -----------------------------------------------------------------------------------------

TASK = "arithmetic_1_digit_addition"


@pytest.fixture
def run_to(breeding_config, run_app):
    """`run_to(generations, **overrides)`: a bandit run of 6 units on the shipped arithmetic task (tests/conftest.py)."""

    def run(generations, **overrides):
        settings = {"population_size": 6, "evolution_generations": generations, "operator_selection": "bandit",
                    "seed": 3}
        assert run_app(breeding_config(**(settings | overrides)))[0] == 0

    return run


def final_state(day_care, run):
    folder = day_care / TASK / "runs" / f"run_{run}" / "snapshots"
    return json.loads(sorted(folder.iterdir())[-1].read_text())["state"]


def test_a_bandit_run_continued_after_generation_1_ends_like_an_uninterrupted_one(day_care, run_to):
    run_to(3)                                    # run 1: uninterrupted
    run_to(1)                                    # run 2: stopped after generation 1 ...
    run_to(3, continue_run_number=2)             # ... and continued
    run_to(3, operator_selection="uniform")      # run 3: the same run, uniform
    uninterrupted, continued, uniform_run = (final_state(day_care, n) for n in (1, 2, 3))
    assert continued["generation"] == 3 and continued == uninterrupted
    stats = continued["operator_stats"]
    assert sum(s["used"] for s in stats.values()) >= 9 and any(s["beat_parent"] for s in stats.values()), stats
    assert uniform_run != uninterrupted, "the setting reaches the operator choice"
    config = json.loads((day_care / TASK / "runs" / "run_2" / "config.json").read_text())["config"]
    assert config["operator_selection"] == "bandit"
    with pytest.raises(UsageError, match="operator_selection: run has 'bandit', asked 'uniform'"):
        run_to(4, continue_run_number=2, operator_selection="uniform")
