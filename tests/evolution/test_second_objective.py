"""A second objective (prompt length in tokens): the report's front of score against length and the pick
by the user's token_cost, and shortness as one more objective of Pareto selection. Fake world of
conftest.py, whose backend counts whitespace words as tokens."""

from __future__ import annotations

from promptbreeder.evolution.pareto import non_dominated
from promptbreeder.genomes.prompt.report import format_report


def test_non_dominated_keeps_the_points_no_other_beats_on_both():
    points = {"long_best": (0.9, -12), "short_good": (0.7, -3), "worse_and_longer": (0.6, -8), "shortest": (0.2, -1),
              "copy": (0.7, -3)}
    assert non_dominated(points) == ["long_best", "short_good", "shortest"]


def bred_rows(report):
    return [r for r in report["rows"] if r["id"] is not None]


def run(make_breeder, runs, **settings):
    breeder = make_breeder(runs=runs, evolution_generations=2, selection_examples=20, **settings)
    breeder.run()
    return breeder, breeder.report()


def test_the_report_compares_the_front_and_picks_by_the_users_trade_off(make_breeder):
    breeder, report = run(make_breeder, "free", second_objective="prompt_tokens")
    rows = bred_rows(report)
    assert report["second_objective"] == {"name": "prompt_tokens", "token_cost": 0.0}
    assert all(r["prompt_tokens"] == sum(len(p.split()) for p in r["task_prompts"]) for r in report["rows"])
    points = {r["id"]: (next(u.fitness for u in breeder.population if u.id == r["id"]), -r["prompt_tokens"])
              for r in rows}
    assert sorted(non_dominated(points)) == sorted(points), "every bred row is on the front"
    assert len(rows) >= 2, "the fake world's longer prompts score better: a real trade-off"
    # token_cost 0: the best selection score, the shorter of equals
    assert rows[0]["selection_fitness"] == max(r["selection_fitness"] for r in rows)
    assert "tokens)" in format_report(report) and "picked at 0 score per token" in format_report(report)
    # a high price per token: the shortest prompt of the front is picked; the same front, another order
    _, costly = run(make_breeder, "costly", second_objective="prompt_tokens", token_cost=1.0)
    picked = bred_rows(costly)
    assert picked[0]["prompt_tokens"] == min(r["prompt_tokens"] for r in picked)
    assert picked[0]["id"] != rows[0]["id"] and picked[0]["prompt_tokens"] < rows[0]["prompt_tokens"]
    assert sorted(r["id"] for r in picked) == sorted(r["id"] for r in rows)
    _, plain = run(make_breeder, "plain")
    assert "second_objective" not in plain and all("prompt_tokens" not in r for r in plain["rows"])
    assert len(bred_rows(plain)) == 3, "without it: the 3 fittest"


def test_pareto_selection_counts_shortness_as_one_more_objective(make_breeder):
    breeder = make_breeder(selection="pareto", pareto_examples=6, second_objective="prompt_tokens",
                           evolution_generations=2)
    breeder.run()
    genome = breeder.genome
    scored = [u for u in breeder.population if u.fitness is not None]
    shortest = min(scored, key=lambda u: genome.prompt_tokens(u.prompts))
    vector = genome.example_scores(shortest)
    assert len(vector) == 7 and vector[-1] == 1 / (1 + genome.prompt_tokens(shortest.prompts) / 100)
    fronts = [e["front"] for e in breeder.store.events() if e["event"] == "pareto"]
    assert fronts and all(fronts)
