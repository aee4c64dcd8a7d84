"""CSV/TSV sources: columns, joined choices, quoting, line numbers in errors."""

from __future__ import annotations

import pytest

from promptbreeder.daycare import load_task_folder
from promptbreeder.errors import DayCareError
from promptbreeder.importers.base import ImportOptions
from promptbreeder.importers.csv_file import CsvImporter


def read(path, **options):
    return CsvImporter().read(path, ImportOptions(**options))


def test_columns_become_input_and_target(tmp_path, write_csv):
    path = write_csv(tmp_path / "sums.csv", ["q", "a"], [["2+2?", "4"], ["3+5?", "8"]])
    source = read(path, input_field="q", target_field="a")
    assert [(r.input, r.target, r.where) for r in source.records] == [("2+2?", "4", "line 2"), ("3+5?", "8", "line 3")]
    assert source.fields == "input from column 'q', gold from column 'a'"


def test_choices_cell_is_split_by_the_separator(tmp_path, write_csv):
    path = write_csv(tmp_path / "quiz.csv", ["q", "opts", "a"], [["Sky?", "red; blue ;green", "blue"]])
    source = read(path, input_field="q", target_field="a", choices_field="opts", choices_separator=";")
    assert source.examples("quiz", "choice") == [{"input": "Sky?", "gold_quiz": "blue", "choices": ["red", "blue", "green"]}]


def test_tsv_quoted_multiline_cells_and_a_bom(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text('\ufeffinput\ttarget\n"line one\nline two"\tyes\n\n"x"\t"no"\n', encoding="utf-8")
    source = read(path)
    assert [(r.input, r.target, r.where) for r in source.records] == [
        ("line one\nline two", "yes", "line 2"), ("x", "no", "line 5")]


def test_delimiter_flag(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("input;target\nq;a\n")
    assert read(path, delimiter=";").records[0].target == "a"


def test_round_trip_numbers(tmp_path, write_csv, run_import):
    path = write_csv(tmp_path / "sums.csv", ["q", "a"], [["2+2?", "4"], ["3+5?", "8"]])
    code, out, _ = run_import(path, "--input_field", "q", "--target_field", "a", "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "numeric" in out
    task = load_task_folder(tmp_path / "dc" / "sums")
    assert task.answer_type == "number" and task.load_suite()[1] == {"input": "3+5?", "gold_sums": "8"}


@pytest.mark.parametrize("text, where, expected", [
    ("", "line 1", "header line"),
    ("input,target\n", "line 2", "at least one row"),
    ("input,target\na,b\nc\n", "line 3", "expected 2 cells"),
    ("input,target\na,\n", "line 2, column 'target'", "non-empty answer"),
    ("input,,target\na,b,c\n", "line 1 (header)", "a name for every column"),
    ("input,target,input\na,b,c\n", "line 1 (header)", "distinct column names"),
    ('input,target\n"a"b,c\n', "line 2", "valid CSV"),
    ("question,answer\na,b\n", "line 2", "--input_field naming the column"),
])
def test_bad_files_name_file_and_line(tmp_path, text, where, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DayCareError) as info:
        read(path)
    assert str(info.value).startswith(f"{path}: at {where}") and expected in str(info.value)


def test_a_missing_named_column_lists_the_columns(tmp_path, write_csv):
    path = write_csv(tmp_path / "q.csv", ["question", "answer"], [["a", "b"]])
    with pytest.raises(DayCareError, match=r"expected a column named 'reply' \(--target_field\); the columns are "
                                           r"'question', 'answer'"):
        read(path, input_field="question", target_field="reply")
