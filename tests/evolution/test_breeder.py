"""The tournament engine in the fake world of conftest.py (no model anywhere)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from promptbreeder.backends.fake import FakeBackend, word_count_embedding
from promptbreeder.genomes.prompt.report import format_report
from promptbreeder.evolution.breeder import STATE_KEYS
from promptbreeder.errors import RunError


def events(breeder, name):
    return [e for e in breeder.store.events() if e["event"] == name]


def questions_by_prompt(requests):
    """task prompt -> variant -> questions it was asked (fitness requests only)."""
    seen = defaultdict(lambda: defaultdict(list))
    for r in requests:
        if r.name.startswith("fitness_"):
            seen[r.inputs["task_prompt"]][r.name].append(r.inputs["question"])
    return seen


def test_initialise_writes_prompts_in_one_call_and_scores_everyone_on_one_batch(make_breeder, day_care):
    breeder = make_breeder(evolution_generations=0)
    breeder.initialise()
    backend, population = breeder.genome.backend, breeder.population
    assert [u.id for u in population] == [f"u{i}" for i in range(8)]
    for unit in population:
        assert unit.operator == "init" and unit.parent is None and unit.generation == 0
        assert len(unit.task_prompts) == 2 and all(p.startswith("Solve it (") for p in unit.task_prompts)
        assert unit.mutation_prompt in breeder.genome.mutation_prompts and unit.thinking_style in breeder.genome.thinking_styles
        assert unit.fitness is not None
        assert [h["variant"] for h in unit.fitness_history] == ["noCoT", "CoT"]
        assert unit.fitness == sum(h["fitness"] for h in unit.fitness_history) / 2
    assert backend.batches[0] == ["fake_init"] * 16, "every init request of every unit in one call"
    assert len(backend.batches) == 2 and Counter(backend.batches[1]) == {"fitness_noCoT": 40, "fitness_CoT": 40}
    asked = questions_by_prompt(backend.requests)
    assert len(asked) == 8, "init prompts differ between units"
    batches = {tuple(v) for per_variant in asked.values() for v in per_variant.values()}
    assert len(batches) == 1 and len(next(iter(batches))) == 5
    heldout = {e["input"] for e in breeder.genome.heldout}
    assert not heldout & set(next(iter(batches))), "evolution never sees held-out examples"
    assert breeder.store.steps() == [0]
    # metric_calls is saved too, but not required: a run saved before it existed resumes with the count at 0
    assert set(breeder.store.load_latest().state) == set(STATE_KEYS + breeder.genome.STATE_KEYS) | {"metric_calls"}


def test_starting_from_seed_prompts_puts_them_in_up_to_half_the_initial_units(make_breeder):
    seeds = ["Sum them.", "Add up.", "Give the total.", "Count on.", "Plus.", "Add."]
    breeder = make_breeder(evolution_generations=0, start_from_seed_prompts=True, seed_prompts=seeds)
    breeder.initialise()
    population, backend = breeder.population, breeder.genome.backend
    assert [u.task_prompts for u in population[:4]] == [[p] for p in seeds[:4]], "4 of 8 units: at most half"
    assert all(u.operator == "seed_prompt" for u in population[:4])
    assert all(u.operator == "init" and u.task_prompt.startswith("Solve it (") for u in population[4:])
    assert backend.batches[0] == ["fake_init"] * 8, "only the other units' prompts are written"
    assert all(u.fitness is not None for u in population)
    plain = make_breeder(runs="plain", evolution_generations=0, seed_prompts=seeds)
    plain.initialise()
    assert all(u.operator == "init" for u in plain.population), "off by default, as in the paper"


def test_init_failures_are_retried_once_then_fall_back_to_the_task_description(make_breeder, world):
    world.init_fails = True
    breeder = make_breeder(evolution_generations=0)
    breeder.initialise()
    assert breeder.genome.backend.batches[:2] == [["fake_init"] * 16] * 2
    assert len(breeder.genome.backend.batches) == 3
    assert all(u.task_prompts == [breeder.genome.task_description] for u in breeder.population)
    assert len(events(breeder, "init_failed")) == 8


def test_the_loser_is_replaced_by_a_child_of_the_winner_and_pairs_share_a_batch(make_breeder):
    breeder = make_breeder()
    breeder.initialise()
    before = {u.id: u for u in breeder.population}
    asked_from = len(breeder.genome.backend.requests)
    breeder.run_generation(1)
    after = {u.id: u for u in breeder.population}
    tournaments = events(breeder, "tournament")
    assert len(tournaments) == 4 and sorted(i for t in tournaments for i in t["pair"]) == sorted(before)
    asked = questions_by_prompt(breeder.genome.backend.requests[asked_from:])
    for t in tournaments:
        a, b = (before[i] for i in t["pair"])
        assert asked[a.task_prompt] == asked[b.task_prompt], "both units of a pair see the same examples"
        assert len(asked[a.task_prompt]["fitness_noCoT"]) == 5
        winner, loser, child = before[t["winner"]], before[t["loser"]], after[t["child"]]
        assert {winner.id, loser.id} == set(t["pair"]) and winner.id in after and loser.id not in after
        assert child.parent == winner.id and child.operator == t["operator"] == "append" and child.generation == 1
        if "prompt_crossover" not in t["post"]:  # crossover (10% of children) swaps the prompt
            assert child.task_prompt.startswith(winner.task_prompt + " ")
        assert child.fitness is None and child.fitness_history == [], "children are scored in their first tournament"
        assert child.lineage[-1]["prompt"] == winner.task_prompt
        if not t["tie"] and not t["elite_saved"]:
            assert winner.fitness > loser.fitness
        assert t["fitness"] == [a.fitness, b.fitness]
    assert len({tuple(asked[before[t["pair"][0]].task_prompt]["fitness_noCoT"]) for t in tournaments}) > 1, \
        "each pair draws its own batch"
    assert sorted(u.id for u in breeder.population if u.id not in before) == ["u10", "u11", "u8", "u9"]


def test_ties_are_broken_by_the_rng_and_the_elite_survives_them(make_breeder, world):
    world.everyone_wrong = True
    winners = []
    for seed in (1, 2):
        breeder = make_breeder(population_size=20, seed=seed, runs=f"runs_{seed}")
        breeder.initialise()
        breeder.run_generation(1)
        tournaments = events(breeder, "tournament")
        assert all(t["tie"] for t in tournaments)
        positions = {t["pair"].index(t["winner"]) for t in tournaments}
        assert positions == {0, 1}, "a tie goes either way"
        assert "u0" in {u.id for u in breeder.population}, "all equal: the first unit is the elite"
        [elite_match] = [t for t in tournaments if "u0" in t["pair"]]
        assert elite_match["winner"] == "u0" and elite_match["child"] is not None, "the elite wins its ties and breeds"
        assert not any(t["elite_saved"] for t in tournaments)
        winners.append([t["winner"] for t in tournaments])
    assert winners[0] != winners[1]


def elite_loses_generation_1(breeder, world):
    """Generation 0's elite answers everything wrong in generation 1, every other unit everything right;
    returns the elite and its generation-1 tournament."""
    breeder.initialise()
    elite = max(breeder.population, key=lambda u: u.fitness)
    world.always_wrong.add(elite.task_prompt)
    world.always_right.update(u.task_prompt for u in breeder.population if u is not elite)
    breeder.run_generation(1)
    [t] = [t for t in events(breeder, "tournament") if elite.id in t["pair"]]
    return elite, t


def test_the_elite_is_never_replaced_even_when_it_loses(make_breeder, world):
    breeder = make_breeder()
    elite, t = elite_loses_generation_1(breeder, world)
    other = next(i for i in t["pair"] if i != elite.id)
    assert t["elite_saved"] and t["winner"] == other and t["loser"] == elite.id and t["child"] is None
    assert [e["fitness"] for e in elite.fitness_history[-2:]] == [0.0, 0.0] and elite in breeder.population
    history = [e["fitness"] for e in elite.fitness_history]
    assert elite.fitness == pytest.approx(sum(history) / len(history)), "fitness is the mean over every batch"
    assert other in {u.id for u in breeder.population}, "the unit that beat the elite is not lost either"
    assert not any(t["elite_saved"] for t in events(breeder, "tournament") if elite.id not in t["pair"])


def test_without_elitism_a_losing_elite_is_replaced_as_in_the_paper(make_breeder, world):
    breeder = make_breeder(elitism=False)
    elite, t = elite_loses_generation_1(breeder, world)
    assert t["loser"] == elite.id and not t["elite_saved"] and t["child"] is not None
    assert elite not in breeder.population
    assert not any(t["elite_saved"] for t in events(breeder, "tournament"))


def test_a_failing_operator_is_retried_once_then_the_winner_is_copied(make_breeder, fakes):
    breeder = make_breeder(operators=[fakes.Failing("bad")])
    breeder.initialise()
    breeder.run_generation(1)
    assert breeder.genome.backend.batches[3:] == [["fake_mutation"] * 4] * 2, "one call for all, one for all retries"
    by_id = {u.id: u for u in breeder.population}
    for t in events(breeder, "tournament"):
        child = by_id[t["child"]]
        assert t["operator"] == child.operator == "copy" and t["tried"] == ["bad", "bad"]
        assert child.parent == t["winner"] and child.id != t["winner"]
        if "prompt_crossover" not in t["post"]:
            assert child.task_prompts == by_id[t["winner"]].task_prompts
    assert len(events(breeder, "mutation_failed")) == 4
    assert breeder.genome.mutator.stats["bad"] == {"used": 8, "failed": 8, "beat_parent": 0}


def test_the_retry_draws_a_different_operator(make_breeder, fakes):
    breeder = make_breeder(operators=[fakes.Failing("bad"), fakes.AppendWord("good")], population_size=20)
    breeder.initialise()
    breeder.run_generation(1)
    tournaments = [t for t in events(breeder, "tournament") if not t["elite_saved"]]  # pairs that bred
    assert all(t["operator"] == "good" for t in tournaments)
    retried = [t for t in tournaments if t["tried"] == ["bad", "good"]]
    assert retried and all(t["tried"] in (["good"], ["bad", "good"]) for t in tournaments)
    stats = breeder.genome.mutator.stats
    assert stats["bad"]["used"] == stats["bad"]["failed"] == len(retried)
    assert stats["good"] == {"used": len(tournaments), "failed": 0, "beat_parent": 0} and len(tournaments) >= 9
    assert not events(breeder, "mutation_failed")


def test_debug_mode_applies_the_operators_in_turn(make_breeder, fakes):
    ops = [fakes.AppendWord("a"), fakes.AppendWord("b"), fakes.NoCall("c")]
    breeder = make_breeder(operators=ops, debug_mode=True, evolution_generations=3)
    breeder.run()
    used = [t["operator"] for t in events(breeder, "tournament") if not t["elite_saved"]]
    assert len(used) >= 9 and used == (["a", "b", "c"] * 4)[: len(used)]


def test_post_mutation_operators_fire_for_about_ten_percent_of_children(make_breeder):
    calls = []
    breeder = make_breeder(population_size=40, evolution_generations=15, post_calls=calls)
    breeder.run()
    counts = Counter(calls)
    children = 20 * 15
    assert set(counts) == {"prompt_crossover", "context_shuffling"}
    for name in counts:
        assert 0.05 * children <= counts[name] <= 0.17 * children, counts
        assert breeder.genome.mutator.stats[name]["used"] == counts[name]
    assert Counter(p for t in events(breeder, "tournament") for p in t["post"]) == counts


def test_fitness_improves_over_generations_in_the_fake_world(make_breeder):
    breeder = make_breeder(population_size=12, evolution_generations=10)
    breeder.run()
    means = [e["mean"] for e in events(breeder, "generation")]
    assert len(means) == 11
    assert means[-1] > means[0] + 0.3, means
    best = max((u for u in breeder.population if u.fitness is not None), key=lambda u: u.fitness)
    assert "carefully" in best.task_prompt and best.fitness == 1.0
    assert breeder.genome.mutator.stats["append"]["beat_parent"] > 0


def test_the_elites_are_each_generations_fittest_unit_oldest_first_and_are_saved(make_breeder):
    bests = []
    breeder = make_breeder(population_size=12, evolution_generations=6,
                           progress=lambda g, total, best, mean: bests.append(best))
    breeder.run()
    elites = breeder.store.load_latest().state["elites"]
    assert elites == breeder.genome.elites and len(elites) >= 2
    assert [e["generation"] for e in elites] == sorted({e["generation"] for e in elites}), "one per generation at most"
    assert all(a["id"] != b["id"] for a, b in zip(elites, elites[1:])), "a unit holding its place is noted once"
    # generation g breeds after its tournaments are scored; the elite survives them, so it is the best reported
    assert all(e["fitness"] == bests[e["generation"]] for e in elites), (elites, bests)


def test_each_generation_makes_a_bounded_number_of_backend_calls(make_breeder, fakes):
    marks = []
    ops = [fakes.AppendWord(), fakes.Failing("bad"), fakes.NoCall()]
    breeder = make_breeder(operators=ops, population_size=10, evolution_generations=6,
                           progress=lambda g, total, best, mean: marks.append(len(breeder.genome.backend.batches)))
    breeder.run()
    per_generation = [b - a for a, b in zip(marks, marks[1:])]
    assert len(per_generation) == 6 and all(1 <= n <= 3 for n in per_generation), per_generation
    for batch in breeder.genome.backend.batches:
        kinds = {name.startswith("fitness_") for name in batch}
        assert len(kinds) == 1, "fitness and operator queries go in separate, whole-generation calls"


def test_correct_cot_workings_out_are_remembered(make_breeder):
    breeder = make_breeder(evolution_generations=0)
    breeder.initialise()
    remembered = [item for u in breeder.population for item in u.context]
    assert remembered
    for item in remembered:
        a, b = [int(n) for n in re.findall(r"\d+", item["question"])]
        assert int(item["answer"]) == a + b and item["reasoning"].startswith(f"{a} plus {b}")

    no_cot = make_breeder(evolution_generations=0, test_CoT=False, runs="runs_nocot")
    no_cot.initialise()
    assert all(u.context == [] for u in no_cot.population)
    assert all([h["variant"] for h in u.fitness_history] == ["noCoT"] for u in no_cot.population)


def test_verbose_writes_one_line_per_tournament(make_breeder):
    lines = []
    breeder = make_breeder(verbose=True, evolution_generations=2, log_line=lines.append)
    breeder.run()
    assert len(lines) == 8 and all(line.startswith("gen ") and " wins; " in line for line in lines)
    quiet = []
    make_breeder(evolution_generations=2, log_line=quiet.append, runs="runs_quiet").run()
    assert quiet == []


def test_progress_is_reported_after_every_step(make_breeder):
    seen = []
    breeder = make_breeder(evolution_generations=3, progress=lambda *args: seen.append(args))
    breeder.run()
    assert [s[:2] for s in seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    generations = events(breeder, "generation")
    assert [(e["best"], e["mean"]) for e in generations] == [s[2:] for s in seen]


def test_report_compares_the_top_units_with_the_baselines_on_held_out_examples(make_breeder):
    breeder = make_breeder(population_size=12, evolution_generations=10, seed_prompts=["Sum them.", "Sum them."])
    breeder.run()
    state = breeder.state()
    unscored = [u.id for u in breeder.population if u.fitness is None]
    assert unscored, "the last generation's children have not met a tournament yet"
    asked_from = len(breeder.genome.backend.requests)
    report = breeder.report()
    assert breeder.state() == state, "reporting draws nothing from the run's RNG and changes no unit"
    # the last generation's children on one training batch, the three fittest units on one common set of
    # training examples (all 80 here: the selection), then finalists and baselines on the held-out part
    children_batch, selection_batch, heldout_batch = breeder.genome.backend.batches[-3:]
    assert Counter(children_batch) == {"fitness_noCoT": 5 * len(unscored), "fitness_CoT": 5 * len(unscored)}
    assert Counter(selection_batch) == {"fitness_noCoT": 3 * 80, "fitness_CoT": 3 * 80}
    assert heldout_batch.count("fitness_noCoT") == 6 * 20
    asked = [r.inputs["question"] for r in breeder.genome.backend.requests[asked_from:]]
    heldout = {e["input"] for e in breeder.genome.heldout}
    trained = 10 * len(unscored) + 2 * 3 * 80
    assert set(asked[:trained]).isdisjoint(heldout) and set(asked[trained:]) == heldout
    assert [r["selection_fitness"] for r in report["rows"][:3]] == sorted(
        (r["selection_fitness"] for r in report["rows"][:3]), reverse=True), "finalists ordered by selection"
    assert report["heldout_examples"] == 20
    names = [row["name"] for row in report["rows"]]
    assert names[3:] == ["baseline: task description", "baseline: task description + step by step",
                         "baseline: seed prompt 1"]
    assert report["rows"][4]["task_prompts"] == [breeder.genome.task_description + " Let's think step by step."]
    assert report["rows"][5]["task_prompts"] == ["Sum them."]
    top = report["rows"][0]
    assert top["id"] == report["best"]["id"] and "carefully" in top["task_prompts"][0]
    assert top["heldout"] == {"noCoT": 1.0, "CoT": 1.0} and top["heldout_fitness"] == 1.0
    assert report["rows"][3]["heldout_fitness"] < 1.0
    assert set(top["heldout_feedback"]["noCoT"]) == {"right"}, "the scorer's line on each held-out answer"
    wrong = [f for f in report["rows"][3]["heldout_feedback"]["noCoT"] if f != "right"]
    assert wrong and all(f.startswith("wrong: expected the number ") for f in wrong)
    [logged] = events(breeder, "report")
    assert logged["rows"] == report["rows"]
    text = format_report(report)
    assert "held-out comparison on 20 examples" in text and "baseline: seed prompt 1" in text


def test_a_child_of_the_last_generation_can_be_reported_best(make_breeder):
    breeder = make_breeder(population_size=4, evolution_generations=1)
    breeder.run()
    child = next(u for u in breeder.population if u.fitness is None)
    # make the child the only good prompt; the report scores it and ranks it first
    child.task_prompts = ["Add carefully."]
    report = breeder.report()
    assert report["best"]["id"] == child.id and report["rows"][0]["train_fitness"] == 1.0
    assert child.fitness is None, "the population itself is left as saved"
    again = breeder.report()
    assert again["rows"] == report["rows"], "the report's training batch does not depend on when it is made"


def test_the_best_unit_is_chosen_on_common_training_examples_not_by_a_lucky_batch(make_breeder, world):
    breeder = make_breeder(population_size=4, evolution_generations=0)  # no child says "carefully"
    breeder.run()
    lucky, good = breeder.population[0], breeder.population[1]
    world.always_wrong.add(lucky.task_prompt)
    good.task_prompts = ["Add carefully."]
    lucky.fitness, good.fitness = 1.0, 0.99  # the lucky unit topped its small batches
    report = breeder.report()
    assert report["best"]["id"] == good.id
    rows = {r["id"]: r for r in report["rows"] if r["id"]}
    assert rows[good.id]["selection_fitness"] == 1.0 and rows[lucky.id]["selection_fitness"] == 0.0
    assert rows[lucky.id]["train_fitness"] == 1.0, "training fitness is reported as it was"


def test_without_selection_examples_the_fittest_unit_is_the_best(make_breeder, world):
    breeder = make_breeder(population_size=4, evolution_generations=0, selection_examples=0)
    breeder.run()
    lucky = breeder.population[0]
    world.always_wrong.add(lucky.task_prompt)
    lucky.fitness = 1.0
    asked = len(breeder.genome.backend.requests)
    report = breeder.report()
    assert report["best"]["id"] == lucky.id and report["rows"][0]["selection_fitness"] is None
    assert len(breeder.genome.backend.requests) - asked == (3 + 2) * 20 * 2, "held-out questions only"


def test_the_same_seed_and_replies_give_the_same_run(make_breeder):
    first = make_breeder(runs="a").run()
    again = make_breeder(runs="b").run()
    other = make_breeder(runs="c", seed=8).run()
    assert first == again
    assert first != other


def test_generations_must_follow_each_other(make_breeder):
    breeder = make_breeder()
    with pytest.raises(RunError, match="cannot follow"):
        breeder.run_generation(1)
    breeder.initialise()
    with pytest.raises(RunError, match="generation 3 cannot follow step 0"):
        breeder.run_generation(3)
    with pytest.raises(RunError, match="already started"):
        breeder.initialise()
    with pytest.raises(RunError, match="nothing to report"):
        make_breeder(runs="fresh").report()


def test_an_odd_unit_sits_out(make_breeder):
    breeder = make_breeder(population_size=5, evolution_generations=1)
    breeder.run()
    tournaments = events(breeder, "tournament")
    assert len(tournaments) == 2 and len(breeder.population) == 5


def test_a_population_of_one_has_no_tournaments(make_breeder):
    breeder = make_breeder(population_size=1, evolution_generations=2, runs="one")
    final = breeder.run()
    assert final["generation"] == 2 and len(final["population"]) == 1 and not events(breeder, "tournament")
    assert len(breeder.genome.backend.batches) == 2, "init and its scoring only"
    assert [e["mean"] for e in events(breeder, "generation")][1:] == [None, None]


def test_an_evaluator_factory_or_an_evaluate_only_evaluator_give_the_same_run(make_breeder):
    reference = make_breeder(runs="instance").run()
    assert make_breeder(runs="factory", evaluator_kind="factory").run() == reference
    plain = make_breeder(runs="plain", evaluator_kind="evaluate-only")
    assert plain.run() == reference
    fitness_calls = [b for b in plain.genome.backend.batches if b[0].startswith("fitness_")]
    assert len(fitness_calls) == 2 + 5 * 4 * 2, "without evaluate_groups: one call per pair and variant"


def test_operators_get_the_models_embeddings_once_per_text_where_the_backend_has_them(make_breeder, world):
    asked = []

    def embedder(text):
        asked.append(text)
        return word_count_embedding(text)

    breeder = make_breeder(backend=FakeBackend(responder=world, text_embedder=embedder), evolution_generations=0)
    embed = breeder.genome._context(1, [], new_id=lambda: "x").embed
    assert embed(["Add.", "Add.", "Sum up."]) == [word_count_embedding(t) for t in ("Add.", "Add.", "Sum up.")]
    assert embed(["Sum up.", "Count."]) and asked == ["Add.", "Sum up.", "Count."]
    assert make_breeder(runs="plain").genome._context(1, [], new_id=lambda: "x").embed is None
