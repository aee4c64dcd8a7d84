"""Every operator against a FakeBackend: what it sends (query, inputs shown, decoder, seeds) and what
child it builds from the reply; unusable replies give None; every operator query compiles."""

from __future__ import annotations

import itertools
import random

import pytest

from promptbreeder.backends.base import DecoderOptions, query_holes
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.package_queries import package_query_text
from promptbreeder.errors import UsageError
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.backends.fake import word_count_embedding
from promptbreeder.genomes.prompt.operators.eda import NEAR_DUPLICATE_COSINE, near_duplicate_filter
from promptbreeder.genomes.prompt.operators.registry import (
    OPERATORS, get_operator, get_post_mutation, mutation_operator_names, operator_names, register,
)

TASK = "Add two whole numbers and give the sum."
NEW_PROMPT = "Line the digits up by place value, then add each column from the right."
NEW_MUTATION = "Make the instruction more concrete by naming the first step."
NEW_AFTER = "State the sum as digits only, with nothing after it."
HYPER = {"zero_order_hyper", "first_order_hyper"}
SAMPLE = DecoderOptions(method="sample", temperature=0.9, top_p=0.95)


def working(i):
    return {"question": f"What is {i} + {i}?", "reasoning": f"{i} and {i} make {2 * i}.", "answer": str(2 * i)}


def make_unit(uid, prompt, fitness=None, **more):
    fields = dict(task_prompts=[prompt, "Give only the number."], mutation_prompt="Rephrase this instruction.",
                  thinking_style="Break the problem into parts.", generation=3, fitness=fitness)
    return Unit(id=uid, **{**fields, **more})


def failure(i):
    return {"question": f"What is {i} + {i}?", "answer": str(2 * i + 1), "gold": str(2 * i),
            "feedback": f"wrong: expected the number {2 * i}; the answer gave the number {2 * i + 1}"}


def parent_unit(**more):
    fields = dict(context=[working(i) for i in range(1, 4)], fitness=0.5, failures=[failure(i) for i in (4, 5)],
                  lineage=[{"generation": 1, "prompt": "Add the numbers.", "fitness": 0.2},
                           {"generation": 2, "prompt": "Add the numbers carefully.", "fitness": 0.4}])
    return make_unit("p", "Add the numbers carefully and check the result.", **{**fields, **more})


def make_ctx(decoder=SAMPLE, population=None, **more):
    counter = itertools.count(1)
    population = population if population is not None else [
        # "a" is right where the parent is wrong: the merge operator's partner
        parent_unit(), make_unit("a", "Count up from the larger number.", 0.7,
                                 solved=[{"question": failure(4)["question"], "answer": "8"}]),
        make_unit("b", "Use a number line to add.", None), make_unit("c", "Write the sum as digits only.", 0.1)]
    fields = dict(task_description=TASK, population=population, mutation_prompts=["Rephrase this instruction."],
                  thinking_styles=["Think about it as a teacher would.", "Look for a simpler related problem."],
                  query_text=package_query_text, mutation_decoder=decoder, generation=4,
                  new_id=lambda: f"child{next(counter)}")
    return BreedContext(**{**fields, **more})


def reply(prompt=NEW_PROMPT, mutation=NEW_MUTATION, after=NEW_AFTER):
    """Replies as a model would to one mutation: `prompt` for the first task prompt, `after` for the second
    (the second request of a per-prompt operator, or the hyper queries' [PROMPT_AFTER])."""
    asked = itertools.count()

    def respond(request):
        if "MUTATION" in query_holes(request.query):
            return {"PROMPT": prompt, "MUTATION": mutation, "PROMPT_AFTER": after}
        return {"PROMPT": prompt if next(asked) % 2 == 0 else after}

    return respond


def breed(name, parent=None, ctx=None, responder=None, seed=0):
    """requests -> FakeBackend -> apply, as the engine does; returns (requests, results, child)."""
    op, parent, ctx = get_operator(name), parent or parent_unit(), ctx or make_ctx()
    backend = FakeBackend(responder=responder or reply())
    requests = op.requests(parent, ctx, random.Random(seed))
    results = backend.run_many(requests)
    return requests, results, op.apply(parent, results, ctx, random.Random(seed))


# --- registry and queries -------------------------------------------------------------------------------

def test_registry_lists_every_operator_in_a_fixed_order():
    assert mutation_operator_names() == ["zero_order", "first_order", "eda", "eda_rank_index", "lineage",
                                         "zero_order_hyper", "first_order_hyper", "lamarckian"]
    assert mutation_operator_names(("reflective",)) == mutation_operator_names() + ["reflective"]
    assert mutation_operator_names(("merge", "reflective")) == mutation_operator_names() + ["reflective", "merge"]
    assert operator_names() == mutation_operator_names() + ["reflective", "merge", "init"]
    with pytest.raises(UsageError, match="unknown optional operator 'crossover'; available: reflective, merge"):
        mutation_operator_names(("crossover",))
    for name, cls in OPERATORS.items():
        assert issubclass(cls, Operator) and cls.name == name and isinstance(get_operator(name), cls)


def test_unknown_names_list_what_exists():
    with pytest.raises(UsageError, match=r"unknown operator 'nope'; available: zero_order, first_order, .*lamarckian, reflective, merge, init"):
        get_operator("nope")
    with pytest.raises(UsageError, match="post-mutation step"):
        get_operator("prompt_crossover")
    with pytest.raises(UsageError, match="available: prompt_crossover, context_shuffling"):
        get_post_mutation("nope")


def test_register_refuses_nameless_and_clashing_operators():
    with pytest.raises(TypeError, match="non-empty `name`"):
        register(type("Nameless", (), {}))
    with pytest.raises(TypeError, match="already registered"):
        register(type("Clash", (), {"name": "eda"}))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_query_compiles_and_has_the_holes_apply_reads(name, query_compiles):
    text = package_query_text(OPERATORS[name].query_name)
    query_compiles(text)
    assert query_holes(text) == (["MUTATION", "PROMPT", "PROMPT_AFTER"] if name in HYPER else ["PROMPT"])
    assert "argmax" not in text.split("\n", 1)[0]  # decoders come from the run, never from the file
    assert '"""' not in text  # LMQL drops blank lines inside triple-quoted strings: \n escapes keep them
    for line in text.splitlines():  # bounded holes only
        if "[PROMPT]" in line or "[MUTATION]" in line:
            assert "len(TOKENS(" in line and "STOPS_AT(" in line


def test_queries_come_from_the_context_lookup():
    asked = []
    ctx = make_ctx(query_text=lambda name: asked.append(name) or package_query_text(name))
    for name in OPERATORS:
        get_operator(name).requests(parent_unit(), ctx, random.Random(0))
    per_prompt = ["zero_order", "first_order", "eda", "eda_rank_index", "lineage"]
    assert asked == [n for n in per_prompt for _ in range(2)] + ["zero_order_hyper", "first_order_hyper"] \
        + ["lamarckian"] * 2 + ["reflective"] * 2 + ["merge"] * 2 + ["init_prompt"] * 2, "one request per task prompt, except the hyper mutations'"


# --- decoder and seeds ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(OPERATORS))
def test_sampling_gets_a_temperature_in_range_per_mutation_and_fresh_seeds(name):
    temperatures, seeds = set(), []
    for seed in range(12):
        requests = get_operator(name).requests(parent_unit(), make_ctx(), random.Random(seed))
        assert requests and all(r.name == get_operator(name).query_name for r in requests)
        assert len({r.decoder for r in requests}) == 1  # one temperature per mutation
        for r in requests:
            assert r.decoder.method == "sample" and 0.6 <= r.decoder.temperature <= 1.2
            assert (r.decoder.top_p, r.decoder.n) == (0.95, 1)  # the rest of the decoder is kept
            assert 0 <= r.seed < 2**31
            seeds.append(r.seed)
        temperatures.add(requests[0].decoder.temperature)
    assert len(temperatures) == 12 and len(set(seeds)) == len(seeds)


@pytest.mark.parametrize("decoder", [DecoderOptions(), DecoderOptions(method="beam", n=2)])
def test_argmax_and_beam_are_left_untouched(decoder):
    for name in OPERATORS:
        for r in get_operator(name).requests(parent_unit(), make_ctx(decoder=decoder), random.Random(1)):
            assert r.decoder == decoder


def test_same_rng_state_same_requests():
    for name in OPERATORS:
        first = get_operator(name).requests(parent_unit(), make_ctx(), random.Random(5))
        assert first == get_operator(name).requests(parent_unit(), make_ctx(), random.Random(5))


# --- the child ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", mutation_operator_names())
def test_child_follows_the_contract(name):
    parent = parent_unit()
    snapshot = parent.to_dict()
    _, _, child = breed(name, parent)
    assert child is not None
    assert (child.id, child.parent, child.operator, child.generation) == ("child1", "p", name, 4)
    assert child.task_prompts == [NEW_PROMPT, NEW_AFTER], "both task prompts mutate"
    assert child.fitness is None and child.fitness_history == []
    assert child.context == parent.context and child.context is not parent.context
    assert child.context[0] is not parent.context[0]
    assert child.thinking_style == parent.thinking_style
    assert child.lineage == parent.lineage + [{"generation": 3, "prompt": parent.task_prompt, "fitness": 0.5}]
    assert child.mutation_prompt == (NEW_MUTATION if name in HYPER else parent.mutation_prompt)
    assert parent.to_dict() == snapshot


def test_lineage_keeps_the_last_eight():
    parent = parent_unit(lineage=[{"generation": g, "prompt": f"Prompt number {g} here.", "fitness": g / 10}
                                  for g in range(8)])
    _, _, child = breed("first_order", parent)
    assert len(child.lineage) == 8
    assert child.lineage[0]["generation"] == 1 and child.lineage[-1]["prompt"] == parent.task_prompt


@pytest.mark.parametrize("name", mutation_operator_names())
@pytest.mark.parametrize("bad", ["", "   \n", "1.", "Prompt:", "@@@ ### !!!", "\n\nAdd the numbers carefully and check the result."])
def test_empty_or_garbled_output_gives_none(name, bad):
    assert breed(name, responder=reply(prompt=bad))[2] is None


@pytest.mark.parametrize("name", mutation_operator_names())
def test_failed_query_gives_none(name):
    def fail(request):
        raise RuntimeError("out of memory")

    _, results, child = breed(name, responder=fail)
    assert not results[0].ok and child is None


@pytest.mark.parametrize("name", mutation_operator_names())
def test_missing_variable_or_missing_result_gives_none(name):
    op, parent, ctx = get_operator(name), parent_unit(), make_ctx()
    assert op.apply(parent, [], ctx, random.Random(0)) is None
    results = FakeBackend(responder=lambda r: {"OTHER": NEW_PROMPT}).run_many(op.requests(parent, ctx, random.Random(0)))
    for result in results:
        result.variables = {"OTHER": NEW_PROMPT}
    assert op.apply(parent, results, ctx, random.Random(0)) is None


@pytest.mark.parametrize("name", mutation_operator_names())
def test_echo_of_the_parents_prompts_gives_none(name):
    parent = parent_unit()
    assert breed(name, parent, responder=reply(prompt=f'"{parent.mutation_prompt}"'))[2] is None
    assert breed(name, parent, responder=reply(prompt=parent.task_prompt.upper()))[2] is None


def test_wrapped_output_is_cleaned():
    _, _, child = breed("first_order", responder=reply(prompt=f' "{NEW_PROMPT}"\n\nThis works because...'))
    assert child.task_prompt == NEW_PROMPT


# --- what each operator shows ---------------------------------------------------------------------------

def test_zero_order_shows_only_the_task():
    requests, results, _ = breed("zero_order")
    assert requests[0].inputs == {"task_description": TASK}
    assert TASK in results[0].prompt and "tips" in results[0].prompt
    assert parent_unit().task_prompt not in results[0].prompt
    assert breed("zero_order", responder=reply(prompt=TASK))[2] is None


def test_first_order_applies_the_mutation_prompt_to_each_task_prompt():
    parent = parent_unit()
    requests, results, _ = breed("first_order", parent)
    assert [r.inputs for r in requests] == [{"mutation_prompt": parent.mutation_prompt, "task_prompt": prompt}
                                            for prompt in parent.task_prompts]
    assert parent.mutation_prompt in results[0].prompt and parent.task_prompt in results[0].prompt
    assert parent.task_prompt_after in results[1].prompt
    assert requests[0].seed != requests[1].seed and requests[0].decoder == requests[1].decoder


def shown_list(request):
    return [line.split(". ", 1)[1] for line in request.inputs["prompt_list"].splitlines()]


def test_near_duplicate_filter():
    prompts = ["Add the two numbers.", "add the two numbers!", "Add the 2 numbers.", "Subtract, then add back.",
               "Add the two numbers.  ", "Think of the two numbers as money and add them up in your head."]
    assert near_duplicate_filter(prompts) == ["Add the two numbers.", "Add the 2 numbers.", "Subtract, then add back.",
                                              "Think of the two numbers as money and add them up in your head."]
    long = " ".join(f"w{i}" for i in range(20))
    assert near_duplicate_filter([long, long + " w99"]) == [long]  # 20/21 shared: above 0.9
    assert near_duplicate_filter([long, long + " w97 w98 w99"]) == [long, long + " w97 w98 w99"]  # 20/23: not above
    assert near_duplicate_filter([]) == []


def test_near_duplicates_by_embedding_where_the_model_gives_them():
    """Cosine similarity above NEAR_DUPLICATE_COSINE; every prompt embedded in one call."""
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return [word_count_embedding(t) for t in texts]

    prompts = ["Add the two numbers.", "Add the numbers two.", "add THE two numbers", "Add the 2 numbers."]
    # the same words in another order or case are the same text to a bag of words: cosine 1
    assert near_duplicate_filter(prompts, embed) == ["Add the two numbers.", "Add the 2 numbers."]
    assert calls == [prompts]
    vectors = {p: v for p, v in zip(prompts, embed(prompts))}
    cosine = sum(a * b for a, b in zip(vectors[prompts[0]], vectors[prompts[3]]))
    assert cosine <= NEAR_DUPLICATE_COSINE  # one word in four differs


def test_eda_filters_with_the_contexts_embedder():
    seen = []
    ctx = make_ctx(population=population_with_duplicates(), num_eda_samples=10,
                   embed=lambda texts: seen.append(texts) or [word_count_embedding(t) for t in texts])
    requests, _, _ = breed("eda", ctx=ctx)
    assert seen and len(shown_list(requests[0])) == 5


def population_with_duplicates():
    return [make_unit(f"u{i}", p, f) for i, (p, f) in enumerate([
        ("Add the numbers carefully.", 0.3), ("add the numbers, carefully!", 0.8), ("Use a number line.", None),
        ("Count on from the bigger number.", 0.6), ("Split into tens and ones.", 0.1), ("Check by subtracting.", None)])]


def test_eda_shows_a_shuffled_deduplicated_sample():
    ctx = make_ctx(population=population_with_duplicates(), num_eda_samples=10)
    orders = set()
    for seed in range(10):
        requests, results, _ = breed("eda", ctx=ctx, seed=seed)
        shown = shown_list(requests[0])
        assert len(shown) == 5 and len({s.lower().strip("!.").replace(",", "") for s in shown}) == 5
        assert requests[0].inputs["next_number"] == 6 and requests[0].inputs["task_description"] == TASK
        assert "1. " in results[0].prompt and "different" in results[0].prompt
        orders.add(tuple(shown))
    assert len(orders) > 1


def test_eda_sample_is_bounded_and_a_copy_of_the_population_is_an_echo():
    ctx = make_ctx(population=population_with_duplicates(), num_eda_samples=3)
    requests, _, _ = breed("eda", ctx=ctx)
    assert len(shown_list(requests[0])) == 3 and requests[0].inputs["next_number"] == 4
    assert breed("eda", ctx=ctx, responder=reply(prompt="Use a number line!"))[2] is None


def test_eda_rank_index_orders_worst_to_best_unknown_first():
    ctx = make_ctx(population=population_with_duplicates(), num_eda_samples=10)
    requests, results, child = breed("eda_rank_index", ctx=ctx)
    shown = shown_list(requests[0])
    # of the two near-duplicates the fitter one (0.8) is shown; unknown fitness goes first
    assert set(shown[:2]) == {"Use a number line.", "Check by subtracting."}
    assert shown[2:] == ["Split into tens and ones.", "Count on from the bigger number.", "add the numbers, carefully!"]
    assert "worst to best" in results[0].prompt and child is not None


def test_eda_rank_index_sample_is_still_sorted():
    units = [make_unit(f"u{i}", f"Prompt variant {i} with {'x ' * i}words.", i / 20) for i in range(20)]
    for seed in range(5):
        requests, _, _ = breed("eda_rank_index", ctx=make_ctx(population=units, num_eda_samples=4), seed=seed)
        ranks = [int(p.split()[2]) for p in shown_list(requests[0])]
        assert len(ranks) == 4 and ranks == sorted(ranks)


def test_lineage_shows_the_elites_oldest_first_for_each_task_prompt():
    elites = [{"id": "a", "generation": 1, "task_prompts": ["Add.", "Digits only."], "fitness": 0.1},
              {"id": "b", "generation": 2, "task_prompts": ["Add the numbers.", "Only digits."], "fitness": 0.2},
              {"id": "c", "generation": 3, "task_prompts": ["add the numbers", "Just the digits."], "fitness": 0.3}]
    parent = parent_unit()
    requests, results, child = breed("lineage", parent, ctx=make_ctx(elites=elites))
    assert shown_list(requests[0]) == ["Add.", "Add the numbers."]  # a repeat in other case is dropped
    assert shown_list(requests[1]) == ["Digits only.", "Only digits.", "Just the digits."]
    assert requests[0].inputs["next_number"] == 3 and "history" in results[0].prompt
    assert child.task_prompts == [NEW_PROMPT, NEW_AFTER]
    assert breed("lineage", parent, ctx=make_ctx(elites=elites), responder=reply(prompt="Add the numbers!"))[2] is None


def test_lineage_before_any_elite_shows_the_parents_own_prompt():
    parent = parent_unit()
    requests, _, _ = breed("lineage", parent)
    assert shown_list(requests[0]) == [parent.task_prompt] and shown_list(requests[1]) == [parent.task_prompt_after]


def test_zero_order_hyper_draws_a_thinking_style_and_keeps_the_new_mutation_prompt():
    ctx, styles = make_ctx(), set()
    for seed in range(20):
        requests, results, child = breed("zero_order_hyper", ctx=ctx, seed=seed)
        inputs = requests[0].inputs
        assert set(inputs) == {"task_description", "thinking_style", "task_prompt", "task_prompt_after"}
        assert inputs["thinking_style"] in ctx.thinking_styles and inputs["thinking_style"] in results[0].prompt
        assert inputs["task_prompt"] == parent_unit().task_prompt
        assert NEW_MUTATION in results[0].prompt  # the second half of the query uses the new mutation prompt
        assert (child.mutation_prompt, child.task_prompts) == (NEW_MUTATION, [NEW_PROMPT, NEW_AFTER])
        styles.add(inputs["thinking_style"])
    assert styles == set(ctx.thinking_styles)


def test_zero_order_hyper_without_styles_uses_the_parents():
    requests, _, _ = breed("zero_order_hyper", ctx=make_ctx(thinking_styles=[]))
    assert requests[0].inputs["thinking_style"] == parent_unit().thinking_style


def test_first_order_hyper_improves_the_mutation_prompt():
    parent = parent_unit()
    requests, results, child = breed("first_order_hyper", parent)
    assert requests[0].inputs == {"mutation_prompt": parent.mutation_prompt, "task_prompt": parent.task_prompt,
                                  "task_prompt_after": parent.task_prompt_after}
    assert child.mutation_prompt == NEW_MUTATION != parent.mutation_prompt


@pytest.mark.parametrize("name", sorted(HYPER))
def test_hyper_mutation_rejects_an_unusable_or_echoed_mutation_prompt(name):
    parent = parent_unit()
    assert breed(name, parent, responder=reply(mutation=""))[2] is None
    assert breed(name, parent, responder=reply(mutation="##"))[2] is None
    # the applied prompt must not merely repeat the new mutation prompt
    assert breed(name, parent, responder=reply(prompt=NEW_MUTATION))[2] is None
    echo = parent.mutation_prompt if name == "first_order_hyper" else make_ctx().thinking_styles[0]
    assert breed(name, parent, responder=reply(mutation=echo))[2] is None


def test_lamarckian_shows_sampled_workings_out():
    parent = parent_unit(context=[working(i) for i in range(1, 7)])
    picked = set()
    for seed in range(10):
        requests, results, child = breed("lamarckian", parent, ctx=make_ctx(num_lamarckian_reasonings=2), seed=seed)
        shown = requests[0].inputs["workings"]
        assert shown.count("Problem: ") == 2 and "Example 2:" in shown and "Example 3:" not in shown
        assert requests[0].inputs["task_description"] == TASK and shown in results[0].prompt
        picked.update(w["question"] for w in parent.context if w["question"] in shown)
        assert child.task_prompt == NEW_PROMPT
    assert len(picked) > 2
    requests, _, _ = breed("lamarckian", parent, ctx=make_ctx(num_lamarckian_reasonings=10))
    assert requests[0].inputs["workings"].count("Problem: ") == 6
    assert breed("lamarckian", parent, responder=reply(prompt="What is 2 + 2?"))[2] is None  # a restated problem


@pytest.mark.parametrize("ctx_kwargs, parent_kwargs", [({}, {"context": []}), ({"num_lamarckian_reasonings": 0}, {})])
def test_lamarckian_without_workings_sends_nothing_and_gives_none(ctx_kwargs, parent_kwargs):
    op, parent, ctx = get_operator("lamarckian"), parent_unit(**parent_kwargs), make_ctx(**ctx_kwargs)
    assert op.requests(parent, ctx, random.Random(0)) == []
    assert op.apply(parent, [], ctx, random.Random(0)) is None


# --- generation 0 ---------------------------------------------------------------------------------------

def template(n_prompts, uid="u7"):
    return Unit(id=uid, task_prompts=[""] * n_prompts, mutation_prompt="Say it in simpler words.",
                thinking_style="Imagine explaining it to a child.")


def test_init_sends_one_request_per_task_prompt():
    op, ctx = get_operator("init"), make_ctx(generation=0)
    (single,) = op.requests(template(1), ctx, random.Random(0))
    assert single.name == "init_prompt" and single.inputs == {
        "thinking_style": "Imagine explaining it to a child.", "mutation_prompt": "Say it in simpler words.",
        "task_description": TASK, "placement": "before"}
    first, second = op.requests(template(2), ctx, random.Random(0))
    assert (first.inputs["placement"], second.inputs["placement"]) == ("before", "after")
    assert first.seed != second.seed and first.decoder == second.decoder


def test_init_fills_every_task_prompt():
    answers = iter(["Picture the two amounts as piles of coins.", "Then say the total as one number."])
    op, ctx = get_operator("init"), make_ctx(generation=0)
    backend = FakeBackend(responder=lambda request: next(answers))
    results = backend.run_many(op.requests(template(2), ctx, random.Random(0)))
    assert "Imagine explaining it to a child." in results[0].prompt and TASK in results[0].prompt
    unit = op.apply(template(2), results, ctx, random.Random(0))
    assert unit.task_prompts == ["Picture the two amounts as piles of coins.", "Then say the total as one number."]
    assert (unit.id, unit.operator, unit.parent, unit.generation, unit.lineage, unit.fitness) == ("u7", "init", None, 0, [], None)
    assert (unit.mutation_prompt, unit.thinking_style) == ("Say it in simpler words.", "Imagine explaining it to a child.")


def test_init_without_an_id_takes_a_fresh_one_and_fails_when_any_prompt_fails():
    op, ctx = get_operator("init"), make_ctx(generation=0)
    good = FakeBackend(responder=reply()).run_many(op.requests(template(1, uid=""), ctx, random.Random(0)))
    assert op.apply(template(1, uid=""), good, ctx, random.Random(0)).id == "child1"
    answers = iter([NEW_PROMPT, "Say it in simpler words."])  # the second echoes the mutation prompt
    results = FakeBackend(responder=lambda r: next(answers)).run_many(op.requests(template(2), ctx, random.Random(0)))
    assert op.apply(template(2), results, ctx, random.Random(0)) is None
    assert op.apply(template(2), results[:1], ctx, random.Random(0)) is None
