"""Writing the task folder: loaded back before it appears, nothing left on failure, --force keeps runs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptbreeder.daycare import load_day_care, load_task_folder
from promptbreeder.errors import DayCareError, UsageError
from promptbreeder.importers.base import Record, Source
from promptbreeder.importers.task_writer import TaskSettings, check_task_name, create_task, task_name_from


def qa_source(*pairs):
    records = [Record(input=q, where=f"line {i + 1}", target=a) for i, (q, a) in enumerate(pairs)]
    return Source(file=Path("qa.jsonl"), kind="JSON Lines file", records=records, fields="input, target")


def test_round_trip_through_the_day_care_loader(day_care):
    created = create_task(qa_source(("Capital of Peru?", "Lima")), "capitals", day_care,
                          settings=TaskSettings(seed_prompts=["Name the city."], licence="CC0"))
    assert created.folder == day_care / "capitals" and created.examples == 1 and not created.replaced
    task = load_day_care(day_care).task("capitals")  # the whole day care, as a run loads it
    assert task.load_suite() == [{"input": "Capital of Peru?", "gold_capitals": "Lima"}]
    assert task.seed_prompts == ["Name the city."] and task.description == "Answer each question with a short answer."
    spec = json.loads((day_care / "capitals" / "task_description.json").read_text())
    assert spec["fixed_system_prompt"] is None and spec["fitness_test_suite"] == "fitness_suite.jsonl"
    readme = (day_care / "capitals" / "README.md").read_text()
    assert "Licence: CC0." in readme and "`qa.jsonl`" in readme and f"--day_care_dir {day_care}" in readme
    assert [p.name for p in day_care.iterdir() if p.name.startswith(".")] == []  # staging removed


def test_refuses_an_existing_folder_unless_forced_and_keeps_its_other_files(day_care):
    create_task(qa_source(("a?", "b")), "t", day_care)
    (day_care / "t" / "runs").mkdir()
    with pytest.raises(UsageError, match="already exists; pass --force"):
        create_task(qa_source(("c?", "d")), "t", day_care)
    created = create_task(qa_source(("c?", "d")), "t", day_care, force=True)
    assert created.replaced and (day_care / "t" / "runs").is_dir()
    assert load_task_folder(day_care / "t").load_suite() == [{"input": "c?", "gold_t": "d"}]


def test_a_task_the_loader_rejects_is_never_written(day_care):
    bad_scorer = TaskSettings(fitness_scorer={"type": "numeric", "tolerance": -1})
    with pytest.raises(DayCareError) as info:
        create_task(qa_source(("1+1?", "2")), "sums", day_care, settings=bad_scorer)
    assert str(info.value).startswith(f"{day_care / 'sums' / 'task_description.json'}: at $.fitness_scorer.tolerance")
    assert str(info.value).endswith("(nothing was written)")
    assert sorted(p.name for p in day_care.iterdir()) == ["mutation_prompts.json", "thinking_styles.json"]


def test_examples_that_do_not_fit_the_answer_type_stop_before_writing(day_care):
    with pytest.raises(DayCareError, match=r"qa.jsonl: at line 2: expected a number target"):
        create_task(qa_source(("1+1?", "2"), ("Who?", "me")), "sums", day_care, answer_type="number")
    with pytest.raises(DayCareError, match=r"line 1: expected choices and one right choice"):
        create_task(qa_source(("1+1?", "2")), "sums", day_care, answer_type="choice")
    assert not (day_care / "sums").exists()


def test_task_names():
    assert task_name_from("My Data-Set v2.jsonl") == "my_data-set_v2_jsonl"
    assert task_name_from("...") == "imported_task"
    for bad in ("queries", "-x", "a b", "", "ä"):
        with pytest.raises(UsageError, match="task name"):
            check_task_name(bad)
