"""BIG-bench task.json: choices vs targets by the task's preferred metric, provenance, the old entry point."""

from __future__ import annotations

import json

import pytest

from promptbreeder.daycare import load_task_folder
from promptbreeder.errors import DayCareError
from promptbreeder.importers.base import ImportOptions
from promptbreeder.importers.bigbench_task import LICENCE, BigBenchImporter

EXAMPLES = [
    {"input": "What is 1 plus 2?", "target": "3", "target_scores": {"3": 1, "banana": 0}},
    {"input": "What is 2 plus 2?", "target": ["4", "four"], "target_scores": {"house": 0, "4": 1}},
]


def task_file(tmp_path, name="toy", **task):
    path = tmp_path / name / "task.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"canary": "CANARY-1", "name": name, "description": "A toy.", **task}))
    return path


def read(path, **options):
    return BigBenchImporter().read(path, ImportOptions(**options))


def test_exact_str_match_tasks_use_their_targets(tmp_path, run_import):
    path = task_file(tmp_path, examples=EXAMPLES, preferred_score="exact_str_match")
    source = read(path)
    assert source.prefer_targets_reason and "exact_str_match" in source.prefer_targets_reason
    code, out, _ = run_import(path, "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "answer type  number" in out
    task = load_task_folder(tmp_path / "dc" / "toy")
    assert [e["gold_toy"] for e in task.load_suite()] == ["3", "4"] and task.scorer_spec == {"type": "numeric"}
    readme = (tmp_path / "dc" / "toy" / "README.md").read_text()
    assert LICENCE in readme and "CANARY-1" in readme and str(path) in readme


def test_multiple_choice_tasks_and_the_choice_override(tmp_path, run_import):
    path = task_file(tmp_path, examples=EXAMPLES, preferred_score="multiple_choice_grade")
    assert read(path).prefer_targets_reason is None
    assert run_import(path, "--day_care_dir", tmp_path / "dc")[0] == 0
    assert load_task_folder(tmp_path / "dc" / "toy").load_suite()[1] == {
        "input": "What is 2 plus 2?", "gold_toy": "4", "choices": ["house", "4"]}
    other = task_file(tmp_path, "arith", examples=EXAMPLES, preferred_score="exact_str_match")
    code, out, _ = run_import(other, "--answer_type", "choice", "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "--answer_type choice was given" in out
    assert load_task_folder(tmp_path / "dc" / "arith").answer_type == "choice"


def test_task_prefix_is_the_description_and_the_folder_names_the_task(tmp_path):
    path = task_file(tmp_path, "named_by_folder", examples=EXAMPLES, task_prefix="Add the numbers.")
    source = read(path)
    assert source.description == "Add the numbers."
    assert BigBenchImporter().default_task_name(path) == "named_by_folder"
    assert BigBenchImporter().default_task_name(path.parent) == "named_by_folder"
    assert [r.input for r in read(path.parent, limit=1).records] == ["What is 1 plus 2?"]


def test_scores_without_a_winner_are_dropped_when_a_target_exists(tmp_path):
    examples = [{"input": "q", "target": "a", "target_scores": {"a": 0, "b": 0}}]
    record = read(task_file(tmp_path, examples=examples)).records[0]
    assert record.choices is None and record.target == "a"


@pytest.mark.parametrize("task, where, expected", [
    ({"examples": []}, "$.examples", "non-empty list"),
    ({"examples": [{"input": "q"}]}, "$.examples[0]", "'target' or 'target_scores'"),
    ({"examples": [{"input": "", "target": "a"}]}, "$.examples[0].input", "non-empty input"),
    ({"examples": [{"input": "q", "target_scores": {"a": 1, "b": 1}}]}, "$.examples[0].target_scores",
     "exactly one best-scored choice"),
    ({"examples": [{"input": "q", "target_scores": {"a": "yes", "b": 0}}]}, "$.examples[0].target_scores",
     "number scores"),
    ({"examples": ["q"]}, "$.examples[0]", "example object"),
])
def test_bad_tasks_name_the_json_path(tmp_path, task, where, expected):
    path = task_file(tmp_path, **task)
    with pytest.raises(DayCareError) as info:
        read(path)
    assert str(info.value).startswith(f"{path}: at {where}: ") and expected in str(info.value)
