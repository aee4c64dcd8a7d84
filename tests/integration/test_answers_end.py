"""Answers end where the model ends them, on the real embedded model (issue: "answers that can end").

Under `REGEX(ANSWER, r"-?[0-9]+")` the space SmolLM2 wants after "61" (it goes on "61 - 49 = ") used to be
masked away, so the answer grew to "6149..." one masked token at a time. A number answer is now the model's
own one-line greedy reply ("61 - 49 = 12"), and its final number is the answer. Choice answers stay one of
the choices; text answers end at end-of-sequence or their token limit, as plain greedy generation does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptbreeder.daycare import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

pytestmark = pytest.mark.integration

DAY_CARE = Path(__file__).resolve().parents[2] / "day_care"
EXAMPLES = 10


def evaluator_for(backend, task_name: str) -> FitnessEvaluator:
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(task_name)
    return FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task))


def evaluate(backend, task_name: str, evaluator: FitnessEvaluator | None = None):
    """The noCoT query results of the task's first examples, with its first seed prompt (or description)."""
    evaluator = evaluator or evaluator_for(backend, task_name)
    task = evaluator.task
    prompt = task.seed_prompts[0] if task.seed_prompts else task.description
    return backend.run_many(evaluator.requests(Candidate(prompt), task.load_suite()[:EXAMPLES], "noCoT"))


def greedy_after(backend, prompt: str, max_tokens: int) -> str:
    """Plain greedy generation from `prompt` with no constraint (the engine, no logit bias)."""
    from promptbreeder.backends.hf.rows import GenerateRow

    engine = backend.engine
    ids = engine.tokenizer(prompt, add_special_tokens=False).input_ids
    out: list[int] = []
    row = GenerateRow(prompt_ids=ids, max_tokens=max_tokens)
    backend.client.run_in_engine_thread(lambda: engine.generate([row], lambda ev: [out.append(p["token"]) for _, p in ev]))
    return engine.tokenizer.decode([t for t in out if t != engine.eos_token_id])


@pytest.mark.parametrize("task", ["arithmetic_1_digit_addition", "arithmetic_2_digit_subtraction"])
def test_number_answers_are_the_final_number_of_the_models_own_greedy_reply(real_backend, task):
    evaluator = evaluator_for(real_backend, task)
    results = evaluate(real_backend, task, evaluator)
    answers = []
    for result in results:
        assert result.ok, result.error
        reply = result.variables["ANSWER"]
        before = result.prompt[: len(result.prompt) - len(reply)]
        greedy = greedy_after(real_backend, before, evaluator.task.answer_max_tokens - 1)
        # the reply is plain greedy generation, ended at its first line break
        assert reply == greedy[: greedy.index("\n") + 1] if "\n" in greedy else greedy.startswith(reply), (reply, greedy)
        answers.append(evaluator.answer_of(reply))
    numbers = [a for a in answers if re.fullmatch(r"-?[0-9]{1,3}", a)]
    assert len(numbers) >= 0.8 * len(answers), answers


def test_choice_answers_are_one_of_the_choices(real_backend):
    day_care = load_day_care(DAY_CARE)
    suite = day_care.task("logical_deduction_three_objects").load_suite()[:EXAMPLES]
    for example, result in zip(suite, evaluate(real_backend, "logical_deduction_three_objects")):
        assert result.ok and result.variables["ANSWER"] in example["choices"]


def test_text_answers_end_where_greedy_generation_ends(real_backend):
    results = evaluate(real_backend, "answer_quality")
    task = load_day_care(DAY_CARE).task("answer_quality")
    for result in results[:4]:
        assert result.ok
        answer = result.variables["ANSWER"]
        before = result.prompt[: len(result.prompt) - len(answer)]
        assert answer and greedy_after(real_backend, before, task.answer_max_tokens - 1).startswith(answer)


def test_a_number_answer_costs_one_model_call_not_one_per_digit(real_backend):
    before = real_backend.engine.stats.generate_calls
    results = evaluate(real_backend, "arithmetic_2_digit_subtraction")
    assert all(r.ok for r in results)
    # a masked variable is asked one token at a time (a digit is one token): at most digits + the end per
    # answer, for each group the dispatcher batches (client_batch_size 8: one or two groups of the 10)
    longest = max(len(r.variables["ANSWER"]) for r in results)  # a minus sign is a token too
    groups = -(-EXAMPLES // 8)
    assert real_backend.engine.stats.generate_calls - before <= (longest + 1) * groups, \
        json.dumps([r.variables["ANSWER"] for r in results])
