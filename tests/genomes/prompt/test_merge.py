"""The merge operator (after GEPA's merge): partner choice from remembered right and wrong answers, the
query it sends, what it refuses, and a run with `merge_units`. Fake backend, one real-model query at the end."""

from __future__ import annotations

import itertools
import random
import re
import zlib

import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.merge import complement, partner
from promptbreeder.genomes.prompt.operators.registry import OPTIONAL_OPERATORS, get_operator
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.package_queries import package_query_text
from promptbreeder.backends.base import query_holes



def unit(uid, prompt, right=(), wrong=(), fitness=0.5):
    return Unit(id=uid, task_prompts=[prompt], mutation_prompt="m", thinking_style="t", fitness=fitness,
                solved=[{"question": q, "answer": "ok"} for q in right],
                failures=[{"question": q, "answer": "no", "gold": "ok", "feedback": "wrong"} for q in wrong])


def ctx(population):
    ids = itertools.count(1)
    return BreedContext(task_description="Add two numbers.", population=population, mutation_prompts=["m"],
                        thinking_styles=["t"], query_text=package_query_text, mutation_decoder=DecoderOptions(),
                        generation=2, new_id=lambda: f"c{next(ids)}")


PARENT = unit("p", "Add them.", right=["q1", "q2"], wrong=["q3", "q4", "q5"])


def test_the_partner_is_right_where_the_parent_is_wrong():
    helps_once = unit("a", "Sum them.", right=["q3"], wrong=["q1"], fitness=0.9)
    helps_twice = unit("b", "Add digit by digit.", right=["q3", "q4"], wrong=["q2"], fitness=0.2)
    same_mistakes = unit("c", "Plus.", right=["q1"], wrong=["q3", "q4"], fitness=1.0)
    twin = unit("d", "Add them.", right=["q3", "q4", "q5"])  # the parent's own prompt: nothing to merge
    assert complement(PARENT, helps_twice) == (["q3", "q4"], ["q2"])
    assert partner(PARENT, [PARENT, helps_once, helps_twice, same_mistakes, twin]).id == "b"
    equal = unit("e", "Count up.", right=["q3", "q4"], fitness=0.8)
    assert partner(PARENT, [PARENT, helps_twice, equal]).id == "e", "equally helpful: the fitter"
    assert partner(PARENT, [PARENT, same_mistakes, twin]) is None


def test_merge_shows_both_prompts_with_what_each_gets_right_and_writes_one():
    other = unit("b", "Add digit by digit.", right=["What is 7 plus 8?", "q4"], wrong=["q2"])
    parent = unit("p", "Add them.", right=["q1", "q2"], wrong=["What is 7 plus 8?", "q4", "q5"])
    op, context = get_operator("merge"), ctx([parent, other])
    [request] = op.requests(parent, context, random.Random(0))
    inputs = request.inputs
    assert request.name == "merge" and inputs["prompt_a"] == "Add them." and inputs["prompt_b"] == "Add digit by digit."
    assert inputs["solved_b"] == "- What is 7 plus 8? (answer: ok)\n- q4 (answer: ok)" and inputs["solved_a"] == "- q2 (answer: ok)"
    merged = FakeBackend(responder=lambda r: {"PROMPT": "Add them digit by digit, carrying tens."}).run_many([request])
    child = op.apply(parent, merged, context, random.Random(0))
    assert child.task_prompts == ["Add them digit by digit, carrying tens."] and child.operator == "merge"
    assert child.parent == "p" and child.solved == [] and child.failures == [], "new prompts: a fresh record"
    for echo in ("Add digit by digit.", "Add them.", "What is 7 plus 8?", "- What is 7 + 8? (answer: ok)"):
        copied = FakeBackend(responder=lambda r, e=echo: {"PROMPT": e}).run_many([request])
        assert op.apply(parent, copied, context, random.Random(0)) is None, f"{echo!r} is no merge"
    assert op.requests(parent, ctx([parent]), random.Random(0)) == [], "no partner: another operator is used"


def test_the_merge_query_and_its_place_among_the_optional_operators():
    text = package_query_text("merge")
    assert query_holes(text) == ["PROMPT"] and 'STOPS_AT(PROMPT, "\\n")' in text
    for name in ("{task_description}", "{prompt_a}", "{prompt_b}", "{solved_a}", "{solved_b}"):
        assert name in text
    assert OPTIONAL_OPERATORS == ("reflective", "merge")


def test_a_run_with_merge_units_draws_it_and_resumes(make_breeder_for_merge):
    off = make_breeder_for_merge("off")
    off.run()
    assert "merge" not in off.genome.mutator.stats, "off by default: the paper's operators"
    on = make_breeder_for_merge("on", merge_units=True)
    on.run()
    stats = on.genome.mutator.stats["merge"]
    assert stats["used"] >= 1 and stats["used"] > stats["failed"], stats
    merges = [r for r in on.genome.backend.requests if r.name == "merge"]
    assert merges and all(r.inputs["solved_b"] != "- (none recorded)" for r in merges), "a partner right where it is not"
    part = make_breeder_for_merge("part", merge_units=True, evolution_generations=3)
    part.run()
    rest = make_breeder_for_merge("part", store=part.store, merge_units=True)
    rest.run()
    assert [u.to_dict() for u in rest.population] == [u.to_dict() for u in on.population]


def half_right(request):
    """Each prompt right on about half the questions, a different half per prompt: merges have partners."""
    if request.name.startswith("fitness_"):
        a, b = [int(x) for x in re.findall(r"\d+", request.inputs["question"])]
        right = zlib.crc32(f"{request.inputs['task_prompt']}|{a}|{b}".encode()) % 2 == 0
        return {"ANSWER": str(a + b if right else a + b + 1), "REASONING": "Adding."}
    return {"PROMPT": f"Add the numbers, version {request.seed % 1000}.", "MUTATION": "Say it differently."}


@pytest.fixture
def make_breeder_for_merge(fake_breeder):
    def make(name, store=None, **settings):
        defaults = dict(population_size=6, evolution_generations=6, fitness_batch_size=6, seed=3)
        return fake_breeder(name, half_right, store=store, **{**defaults, **settings})[0]

    return make


@pytest.mark.integration
def test_a_merge_on_the_real_model_writes_one_instruction(real_backend):
    other = unit("b", "Add the tens first, then the ones.", right=["What is 7 plus 8?"], wrong=["What is 2 plus 3?"])
    parent = unit("p", "Add the numbers.", right=["What is 2 plus 3?"], wrong=["What is 7 plus 8?"])
    other.solved[0]["answer"], parent.solved[0]["answer"] = "15", "5"
    op, context = get_operator("merge"), ctx([parent, other])
    [request] = op.requests(parent, context, random.Random(0))
    [result] = real_backend.run_many([request])
    assert result.ok and "\n" not in result.variables["PROMPT"].strip()
    child = op.apply(parent, [result], context, random.Random(0))
    # argmax, the embedded model restates a shown problem here ("- What is 2 + 3? (answer: 5)"): no instruction
    assert child is None or "answer:" not in child.task_prompt
    # a copy of either instruction is no merge (None: another operator is used); a new one is kept
    assert child is None or child.task_prompt not in ("Add the numbers.", "Add the tens first, then the ones.")
