"""FitnessEvaluator.evaluate_groups: several (candidates, examples, variant) groups in one backend call."""

from __future__ import annotations

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

TASK = "arithmetic_1_digit_addition"


def test_groups_run_in_one_call_and_match_separate_evaluations(day_care, world, fakes):
    task = day_care.task(TASK)
    examples = task.load_suite()
    backend = fakes.CountingBackend(world)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task))
    groups = [([Candidate("Add carefully."), Candidate("Guess.")], examples[:4], "noCoT"),
              ([Candidate("Add carefully, in steps."), Candidate("Sum it.", "Check it.")], examples[10:13], "CoT"),
              ([], examples[:2], "noCoT"), ([Candidate("x")], [], "CoT")]
    together = evaluator.evaluate_groups(groups)
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 4 * 2 + 3 * 2
    separate = FitnessEvaluator(day_care, task, FakeBackend(responder=world), day_care.build_scorer(task))
    assert together == [separate.evaluate(list(c), list(e), v) for c, e, v in groups]
    careful = together[0][0]
    assert careful.fitness == 1.0 and careful.questions == [e["input"] for e in examples[:4]]
    assert careful.correct_workings() == [], "no working-out without chain of thought"
    cot = together[1][0]
    assert [q for q, _, _ in cot.correct_workings()] == [e["input"] for e in examples[10:13]]
    assert cot.correct_workings()[0][1].startswith("1 plus 0 is")
    assert together[2] == [] and together[3][0].scores == []
