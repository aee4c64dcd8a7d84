"""Every BIG-bench task in shared/data/bigbench imports into a task the day care loader accepts, whose
first example becomes fitness requests (FakeBackend: no model is loaded) and scores 1 when answered right."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.daycare import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator
from promptbreeder.importers.base import ANSWER_TYPES

REPO = Path(__file__).resolve().parents[2]
SHARED = Path("/work/shared/data/bigbench")
TASKS = sorted(p.parent.name for p in SHARED.glob("*/task.json"))
pytestmark = pytest.mark.skipif(not TASKS, reason="no shared BIG-bench tasks on this machine")


@pytest.mark.parametrize("name", TASKS)
def test_shared_task_imports_and_feeds_the_fitness_evaluator(name, day_care, run_import):
    code, out, err = run_import(SHARED / name / "task.json", "--day_care_dir", day_care)
    assert code == 0 and err == "" and f"--task {name} --day_care_dir {day_care}" in out
    dc = load_day_care(day_care)
    task = dc.task(name)
    assert task.answer_type in ANSWER_TYPES
    first = task.load_suite()[0]
    gold = first[task.gold_key]
    backend = FakeBackend(responder=lambda request: {"ANSWER": str(gold)})
    evaluator = FitnessEvaluator(dc, task, backend, dc.build_scorer(task))
    [request] = evaluator.requests(Candidate("Answer the question."), [first], "noCoT")
    assert request.inputs["question"] == first["input"] and request.inputs["answer_type"] == task.answer_type
    assert request.inputs["choices"] == first.get("choices", [])
    [result] = evaluator.evaluate([Candidate("Answer the question.")], [first])
    assert result.scores == [1.0] and result.failures == 0


@pytest.mark.skipif(not (SHARED / "arithmetic_2_digit_subtraction").is_dir(), reason="source not present")
def test_reimporting_matches_the_shipped_day_care(day_care, run_import):
    """The shipped tasks were made by the old converter; the importer chooses the same from the source alone."""
    for name, limit in (("arithmetic_2_digit_subtraction", "200"), ("logical_deduction_three_objects", "300")):
        assert run_import(SHARED / name / "task.json", "--limit", limit, "--day_care_dir", day_care)[0] == 0
        shipped = load_day_care(REPO / "day_care").task(name)
        imported = load_day_care(day_care).task(name)
        assert imported.load_suite() == shipped.load_suite()
        assert (imported.answer_type, imported.scorer_spec["type"]) == (shipped.answer_type, shipped.scorer_spec["type"])
