from __future__ import annotations

from pathlib import Path

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"


def gold_for_good_prompt(request):
    """Answers right only for the prompt that mentions 'carefully'."""
    question = request.inputs["question"]
    a, b = [int(w) for w in question.replace("?", "").split() if w.isdigit()]
    return str(a + b) if "carefully" in request.inputs["task_prompt"] else "7" if a + b != 7 else "8"


@pytest.fixture
def setup():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task("arithmetic_1_digit_addition")
    examples = task.load_suite()[:10]
    return day_care, task, examples


def test_fitness_ranks_prompts_by_their_answers(setup):
    day_care, task, examples = setup
    backend = FakeBackend(responder=gold_for_good_prompt)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), seed=3)
    good, bad = evaluator.evaluate([Candidate("Add carefully."), Candidate("Guess.")], examples, "noCoT")
    assert good.fitness == 1.0 and bad.fitness == 0.0
    assert len(backend.requests) == 20, "all candidates x examples go out in one batch"
    request = backend.requests[0]
    assert request.name == "fitness_noCoT" and request.seed == 3
    assert request.inputs["answer_type"] == "number" and request.inputs["question"] == examples[0]["input"]
    assert request.decoder == task.fitness_decoder
    assert "[ANSWER]" in request.query


@pytest.mark.parametrize("reply, answer, score", [
    ("2 + 3 = 5", "5", 1.0),  # small models restate the sum before answering
    ("The answer is 5.\n", "5", 1.0),
    (" 5 ", "5", 1.0),
    ("2 + 3", "3", 0.0),  # cut off before the sum: its final number is what it answered
    ("I cannot say.", "", 0.0),
])
def test_a_number_answer_is_the_final_number_of_the_reply(setup, reply, answer, score):
    day_care, task, examples = setup
    example = {"input": "What is 2 plus 3?", "gold_arithmetic_1_digit_addition": "5"}
    backend = FakeBackend(responder=lambda r: {"ANSWER": reply})
    [result] = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task)).evaluate(
        [Candidate("Add.")], [example], "noCoT")
    assert result.answers == [answer] and result.scores == [score]


def test_other_answers_are_the_reply_without_its_edges(setup):
    day_care = setup[0]
    task = day_care.task("logical_deduction_three_objects")
    example = task.load_suite()[0]
    backend = FakeBackend(responder=lambda r: {"ANSWER": f" {example['choices'][1]} 2\n"})
    [result] = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task),
                                choice_by_likelihood=False).evaluate([Candidate("Think.")], [example], "noCoT")
    assert result.answers == [f"{example['choices'][1]} 2"]


def test_cot_variant_keeps_the_working_out(setup):
    day_care, task, examples = setup
    backend = FakeBackend(responder=lambda r: {"REASONING": "3 and 4 make 7.", "ANSWER": "7"})
    [result] = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task)).evaluate([Candidate("Add.")], examples[:2], "CoT")
    assert result.reasonings == ["3 and 4 make 7.", "3 and 4 make 7."]
    assert backend.requests[0].name == "fitness_CoT"


def test_failed_queries_score_zero_and_are_counted(setup):
    day_care, task, examples = setup

    def flaky(request):
        if request.inputs["question"] == examples[0]["input"]:
            raise RuntimeError("model fell over")
        return gold_for_good_prompt(request)

    [result] = FitnessEvaluator(day_care, task, FakeBackend(responder=flaky), day_care.build_scorer(task)).evaluate(
        [Candidate("Add carefully.")], examples, "noCoT")
    assert result.failures == 1 and result.scores[0] == 0.0 and result.fitness == 0.9


def test_unknown_variant(setup):
    day_care, task, examples = setup
    evaluator = FitnessEvaluator(day_care, task, FakeBackend(), day_care.build_scorer(task))
    with pytest.raises(ValueError, match="noCoT, CoT"):
        evaluator.evaluate([Candidate("x")], examples, "fewshot")


def test_scored_answers_are_kept_in_the_results_cache(setup, tmp_path):
    from promptbreeder.store.cache import CallCache

    day_care, task, examples = setup
    cache = CallCache(tmp_path / "cache.sqlite")
    backend = FakeBackend(responder=gold_for_good_prompt)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), cache=cache, model="m")
    first = evaluator.evaluate([Candidate("Add carefully."), Candidate("Guess.")], examples[:4])
    assert cache.count("fitness") == 8 and len(backend.requests) == 8
    # the same candidates on overlapping examples: only the new examples are asked and scored
    again = evaluator.evaluate([Candidate("Add carefully."), Candidate("Guess.")], examples[2:6])
    assert len(backend.requests) == 8 + 4 and evaluator.cached_results == 4
    assert [r.fitness for r in first] == [r.fitness for r in again] == [1.0, 0.0]
    assert again[0].answers[:2] == first[0].answers[2:]
    # another model, seed or scorer is another result
    other = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), cache=cache, model="m2")
    other.evaluate([Candidate("Add carefully.")], examples[:1])
    assert other.cached_results == 0 and cache.count("fitness") == 13
    cache.close()


def test_failed_queries_are_not_cached(setup, tmp_path):
    from promptbreeder.store.cache import CallCache

    day_care, task, examples = setup
    cache = CallCache(tmp_path / "cache.sqlite")
    broken = FitnessEvaluator(day_care, task, FakeBackend(responder=lambda r: 1 / 0), day_care.build_scorer(task),
                              cache=cache, model="m")
    [result] = broken.evaluate([Candidate("Add.")], examples[:3])
    assert result.failures == 3 and cache.count("fitness") == 0
    cache.close()


@pytest.mark.parametrize("task_name, can_score, setting, expected", [
    ("logical_deduction_three_objects", True, True, "fitness_noCoT_likelihood"),
    ("logical_deduction_three_objects", False, True, "fitness_noCoT"),   # a server without log-probabilities
    ("logical_deduction_three_objects", True, False, "fitness_noCoT"),   # switched off
    ("arithmetic_1_digit_addition", True, True, "fitness_noCoT"),        # not a choice task
])
def test_choice_tasks_are_answered_by_likelihood_where_the_backend_can_score(task_name, can_score, setting, expected):
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(task_name)
    example = task.load_suite()[0]
    backend = FakeBackend(responder=lambda r: {"ANSWER": f" {example['choices'][0]} " if example.get("choices") else "3"},
                          text_scorer=(lambda context, text: [-1.0]) if can_score else None)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), choice_by_likelihood=setting)
    [result] = evaluator.evaluate([Candidate("Think.")], [example], "noCoT")
    assert backend.requests[0].name == expected
    assert evaluator.query_name("CoT") == expected.replace("noCoT", "CoT")
    if example.get("choices"):
        assert result.answers == [example["choices"][0]], "the answer is compared without surrounding spaces"
    if expected.endswith("_likelihood"):
        assert "distribution" in backend.requests[0].query and "ANSWER in choices" in backend.requests[0].query


def test_an_examples_extra_fields_reach_the_fitness_query_but_gold_labels_never_do(setup):
    day_care, task, _ = setup
    example = {"input": "What is 2 plus 3?", "gold_arithmetic_1_digit_addition": "5", "gold_other_task": "x",
               "context": "Numbers are in base ten.", "difficulty": 1}
    backend = FakeBackend(responder=lambda r: {"ANSWER": "5"})
    FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task)).evaluate([Candidate("Add.")], [example])
    [request] = backend.requests
    assert request.inputs["context"] == "Numbers are in base ten." and request.inputs["difficulty"] == 1
    assert not any(key.startswith("gold_") for key in request.inputs)
    assert request.inputs["question"] == "What is 2 plus 3?"


@pytest.mark.parametrize("field", ["question", "task_prompt", "not-an-identifier"])
def test_an_extra_field_that_would_hide_a_query_input_is_one_line_naming_it(setup, tmp_path, field):
    import json

    from promptbreeder.errors import DayCareError

    _, task, _ = setup
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps({"input": "What is 1 plus 1?", "gold_arithmetic_1_digit_addition": "2"}) + "\n"
                     + json.dumps({"input": "What is 2 plus 2?", "gold_arithmetic_1_digit_addition": "4", field: "x"}))
    with pytest.raises(DayCareError) as caught:
        task.load_suite(suite)
    assert str(suite) in str(caught.value) and field in str(caught.value) and "rename the field" in str(caught.value)
