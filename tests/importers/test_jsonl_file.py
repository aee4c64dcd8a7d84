"""JSON Lines sources: named fields, defaults, choices in every spelling, JSON lists, bad lines."""

from __future__ import annotations

import json

import pytest

from promptbreeder.daycare import load_task_folder
from promptbreeder.errors import DayCareError
from promptbreeder.importers.base import ImportOptions
from promptbreeder.importers.jsonl_file import JsonLinesImporter

QA = [{"question": "Capital of France?", "answer": "Paris"}, {"question": "Capital of Peru?", "answer": "Lima"}]


def read(path, **options):
    return JsonLinesImporter().read(path, ImportOptions(**options))


def test_named_fields_become_input_and_target(tmp_path, write_jsonl):
    source = read(write_jsonl(tmp_path / "qa.jsonl", QA), input_field="question", target_field="answer")
    assert [(r.input, r.target, r.where) for r in source.records] == [
        ("Capital of France?", "Paris", "line 1"), ("Capital of Peru?", "Lima", "line 2")]
    assert source.fields == "input from field 'question', gold from field 'answer'"
    assert source.examples("caps", "text") == [{"input": "Capital of France?", "gold_caps": "Paris"},
                                               {"input": "Capital of Peru?", "gold_caps": "Lima"}]


def test_fields_called_input_and_target_need_no_flags(tmp_path, write_jsonl):
    source = read(write_jsonl(tmp_path / "t.jsonl", [{"input": "1+1?", "target": 2, "extra": True}]))
    assert source.records[0].target == 2 and source.examples("s", "number") == [{"input": "1+1?", "gold_s": 2}]


def test_choices_as_list_index_letter_and_scores(tmp_path, write_jsonl):
    rows = [
        {"q": "Sky?", "options": ["blue", "green"], "a": "blue"},
        {"q": "Grass?", "options": ["blue", "green"], "a": 1},  # an index, as datasets store labels
        {"q": "Snow?", "options": ["white", "black"], "a": "A"},  # a letter, as exam sets write them
        {"q": "Coal?", "options": "white|black", "a": "BLACK"},  # a joined text, matched ignoring case
    ]
    source = read(write_jsonl(tmp_path / "c.jsonl", rows), input_field="q", target_field="a", choices_field="options")
    assert [r.choice_target for r in source.records] == ["blue", "green", "white", "black"]
    assert source.examples("col", "choice")[1] == {"input": "Grass?", "gold_col": "green", "choices": ["blue", "green"]}
    # an index means that choice's text for text answers too
    assert source.examples("col", "text")[1]["gold_col"] == "green"
    scored = read(write_jsonl(tmp_path / "s.jsonl", [{"input": "Sky?", "choices": {"red": 0, "blue": 1}}]))
    assert scored.records[0].choices == ["red", "blue"] and scored.records[0].choice_target == "blue"


def test_a_choice_literally_named_like_an_index_wins(tmp_path, write_jsonl):
    rows = [{"input": "Pick two", "choices": ["1", "2", "3"], "target": 2}]
    assert read(write_jsonl(tmp_path / "n.jsonl", rows)).records[0].choice_target == "2"


def test_list_targets_take_the_first_and_limit_stops_early(tmp_path, write_jsonl):
    rows = [{"input": f"q{i}", "target": [f"a{i}", "other"]} for i in range(5)] + ["not even an object"]
    source = read(write_jsonl(tmp_path / "l.jsonl", rows), limit=3)
    assert [r.target for r in source.records] == ["a0", "a1", "a2"]


def test_a_json_list_file_is_read_too(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps(QA, indent=2))
    source = read(path, input_field="question", target_field="answer")
    assert [r.where for r in source.records] == ["$[0]", "$[1]"]


def test_round_trip_through_the_loader(tmp_path, run_import, write_jsonl):
    path = write_jsonl(tmp_path / "capitals.jsonl", QA)
    code, out, _ = run_import(path, "--input_field", "question", "--target_field", "answer",
                              "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "exact_match" in out
    task = load_task_folder(tmp_path / "dc" / "capitals")
    assert task.answer_type == "text" and task.scorer_spec == {"type": "exact_match"}
    assert task.load_suite()[0] == {"input": "Capital of France?", "gold_capitals": "Paris"}


@pytest.mark.parametrize("lines, where, expected", [
    (['{"input": "a", "target": "b"}', "", '{"input": "c", "target": '], "line 3, column", "one JSON object per line"),
    (['{"input": "a", "target": "b"}', "[1, 2]"], "line 2", "expected an object of fields"),
    (['{"input": "a", "target": "b"}', '{"input": "c"}'], "line 2", "expected a field 'target'"),
    (['{"input": "  ", "target": "b"}'], "line 1, $.input", "non-empty input"),
    (['{"input": "a", "target": null}'], "line 1, $.target", "non-empty answer"),
    (['{"input": "a", "target": "z", "choices": ["x", "y"]}'], "line 1, $.target", "one of the choices 'x', 'y'"),
    (['{"input": "a", "target": "x", "choices": ["x"]}'], "line 1, $.choices", "at least 2"),
    (['{"input": "a", "target": "x", "choices": ["x", "x"]}'], "line 1, $.choices", "distinct"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, lines, where, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DayCareError) as info:
        read(path)
    assert str(info.value).startswith(f"{path}: at {where}") and expected in str(info.value)
