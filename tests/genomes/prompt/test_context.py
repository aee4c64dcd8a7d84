"""A unit's few-shot context (Fernando et al. 2023, 3.2.5): filled with correct workings-out, updated by
one random replacement once full or resampled whole with a 10% chance, and shown before the task prompt
in fitness tests when `fitness_context_examples` asks for it."""

from __future__ import annotations

import random
from pathlib import Path

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
from promptbreeder.genomes.prompt.scoring import candidate, few_shot_text, score_units
from promptbreeder.genomes.prompt.unit import CONTEXT_RESAMPLE_RATE, MAX_CONTEXT, Unit

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"


def working(n: int) -> dict[str, str]:
    return {"question": f"q{n}", "reasoning": f"r{n}", "answer": str(n)}


def unit(context=()) -> Unit:
    return Unit(id="u1", task_prompts=["Add.", "Answer now."], mutation_prompt="m", thinking_style="t",
                context=[dict(c) for c in context])


def rng_where_resampling(happens: bool) -> random.Random:
    """An RNG whose first draw decides the 10% resampling the way asked."""
    for seed in range(1000):
        if (random.Random(seed).random() < CONTEXT_RESAMPLE_RATE) == happens:
            return random.Random(seed)
    raise AssertionError("no such seed")


def test_new_workings_fill_the_free_places_without_duplicates():
    u = unit([working(1)])
    u.remember_workings([working(1), working(2), working(2), working(3)], rng_where_resampling(False))
    assert u.context == [working(1), working(2), working(3)]


def test_a_full_context_gets_one_random_new_working_in_place_of_an_old_one():
    old = [working(n) for n in range(MAX_CONTEXT)]
    u = unit(old)
    u.remember_workings([working(100), working(101)], rng_where_resampling(False))
    assert len(u.context) == MAX_CONTEXT
    assert len([w for w in u.context if w not in old]) == 1, "exactly one replaced"
    assert sum(w in (working(100), working(101)) for w in u.context) == 1


def test_with_a_ten_percent_chance_the_whole_list_is_resampled():
    old = [working(n) for n in range(MAX_CONTEXT)]
    u = unit(old)
    new = [working(n) for n in range(100, 104)]
    u.remember_workings(new, rng_where_resampling(True))
    assert len(u.context) == MAX_CONTEXT and all(w in old + new for w in u.context)
    assert u.context != old
    assert 0.05 < sum(random.Random(s).random() < CONTEXT_RESAMPLE_RATE for s in range(2000)) / 2000 < 0.15


def test_nothing_new_changes_nothing():
    u = unit([working(1)])
    u.remember_workings([working(1)], random.Random(0))
    assert u.context == [working(1)]


def test_the_context_is_shown_before_the_task_prompt_only_when_asked():
    u = unit([working(1), working(2), working(3)])
    assert candidate(u).task_prompt == "Add." and candidate(u).task_prompt_after == "Answer now."
    shown = candidate(u, context_shown=2).task_prompt
    assert shown == few_shot_text(u.context, 2) + "Add."
    assert shown.startswith("Q: q2\nA: r2\nSo the answer is: 2\n\nQ: q3\n") and "q1" not in shown


def test_scoring_takes_correct_workings_into_the_context_reproducibly():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task("arithmetic_1_digit_addition")
    examples = task.load_suite()[:6]

    def right(request):
        a, b = [int(w) for w in request.inputs["question"].replace("?", "").split() if w.isdigit()]
        return {"REASONING": f" {a} plus {b} is {a + b}.", "ANSWER": str(a + b)}

    def scored(context_shown: int) -> tuple[Unit, FakeBackend]:
        backend = FakeBackend(responder=right)
        evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task))
        u = unit()
        score_units(evaluator, ["CoT"], [([u], examples)], generation=0, context_shown=context_shown, seed=4)
        score_units(evaluator, ["CoT"], [([u], examples)], generation=1, context_shown=context_shown, seed=4)
        return u, backend

    first, _ = scored(0)
    again, _ = scored(0)
    assert len(first.context) == 6 and first.context == again.context
    shown, backend = scored(2)
    asked = [r.inputs["task_prompt"] for r in backend.requests]
    assert asked[0] == "Add." and all(p.startswith("Q: ") and p.endswith("\n\nAdd.") for p in asked[6:])
