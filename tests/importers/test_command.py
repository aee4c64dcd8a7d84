"""`promptbreeder import` end to end through `cli.main`: the explanation, flags, and every bad input as
exactly one line on stderr with exit code 2 (no traceback)."""

from __future__ import annotations

import json

import pytest

from promptbreeder import cli
from promptbreeder.daycare import load_task_folder


QA = [{"question": "Capital of France?", "answer": "Paris"}, {"question": "Capital of Peru?", "answer": "Lima"}]


def test_the_explanation_says_what_was_made_why_and_how_to_run_it(tmp_path, day_care, run_import, write_jsonl):
    path = write_jsonl(tmp_path / "Capitals.jsonl", QA)
    code, out, err = run_import(path, "--input_field", "question", "--target_field", "answer",
                                "--day_care_dir", day_care)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == (f"created {day_care / 'capitals'}/ from the JSON Lines file {path} "
                        "(format jsonl, told from its name)")
    assert lines[1] == ("  examples     2 in fitness_suite.jsonl "
                        "(input from field 'question', gold from field 'answer')")
    assert lines[2] == ("  answer type  text: the gold answers are not all numbers and not every example has choices; "
                        "the gold answers are short (at most 1 word), so an answer must match its gold exactly")
    assert lines[3].startswith("  scorer       exact_match: 1 when the answer equals the gold text")
    assert lines[-2:] == ["run it with:", f"  python -m promptbreeder --task capitals --day_care_dir {day_care}"]
    assert "before a run" not in out  # this day care has its prompt files


def test_flags_name_limit_answer_type_description_and_force(tmp_path, run_import, write_jsonl):
    path = write_jsonl(tmp_path / "qa.jsonl", QA)
    common = ["--input_field", "question", "--target_field", "answer", "--day_care_dir", tmp_path / "dc"]
    code, out, _ = run_import(path, *common, "--name", "caps", "--limit", "1", "--answer_type", "text",
                              "--task_description", "Name the capital.", "--licence", "CC0")
    assert code == 0 and "before a run" in out  # a new day care folder lacks mutation prompts / thinking styles
    task = load_task_folder(tmp_path / "dc" / "caps")
    assert len(task.load_suite()) == 1 and task.description == "Name the capital."
    assert "the first 1 examples (--limit 1)" in (tmp_path / "dc" / "caps" / "README.md").read_text()
    code, out, _ = run_import(path, *common, "--name", "caps", "--force")
    assert code == 0 and out.startswith("replaced the task files of")
    assert len(load_task_folder(tmp_path / "dc" / "caps").load_suite()) == 2


def test_format_flag_overrides_detection(tmp_path, run_import):
    path = tmp_path / "data.txt"
    path.write_text("input,target\nq,a\n")
    code, out, _ = run_import(path, "--format", "csv", "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "(format csv, as given)" in out and (tmp_path / "dc" / "data").is_dir()


def test_help_lists_formats_and_rules(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["import", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith("usage: promptbreeder import")
    for text in ("bigbench", "jsonl", "csv", "hf", "pyarrow", "llm_rubric", "--choices_separator"):
        assert text in out


@pytest.fixture
def bad_files(tmp_path):
    """A folder of broken sources (and a day care `dc` whose task `ok` exists already)."""
    (tmp_path / "folder.jsonl").mkdir()
    (tmp_path / "binary.jsonl").write_bytes(b'{"input": "\xff"}\n')
    (tmp_path / "broken.jsonl").write_text('{"input": "a", "target": "b"}\n{"input": "c", "target": "d"}\n{"input": \n')
    (tmp_path / "holes.jsonl").write_text('{"question": "a", "answer": "b"}\n{"question": "c"}\n')
    (tmp_path / "empty.jsonl").write_text("\n\n")
    (tmp_path / "columns.csv").write_text("question,answer\nq,a\n")
    (tmp_path / "ragged.csv").write_text("input,target\na,b\nc,d,e\n")
    (tmp_path / "header_only.csv").write_text("input,target\n")
    (tmp_path / "words.jsonl").write_text('{"input": "a", "target": "many"}\n')
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "no_data").mkdir()
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / "task.json").write_text(json.dumps({"examples": []}))
    (tmp_path / "ok.jsonl").write_text('{"input": "a", "target": "b"}\n')
    (tmp_path / "dc" / "ok").mkdir(parents=True)
    return tmp_path


DC = ["--day_care_dir", "{tmp}/dc"]
BAD_INPUTS = {  # id: (argv with {tmp} for the bad_files folder, texts the one line must contain)
    "not found": (["{tmp}/missing.jsonl"], ["missing.jsonl: at $: expected an existing file or folder", "not found"]),
    "a folder": (["{tmp}/folder.jsonl", "--format", "jsonl"], ["folder.jsonl: at $:", "it is a folder"]),
    "not UTF-8": (["{tmp}/binary.jsonl"], ["binary.jsonl: at byte 11: expected UTF-8 text"]),
    "malformed line": (["{tmp}/broken.jsonl"], ["broken.jsonl: at line 3, column", "one JSON object per line"]),
    "missing field": (["{tmp}/holes.jsonl", "--input_field", "question", "--target_field", "answer"],
                      ["holes.jsonl: at line 2: expected a field 'answer'"]),
    "no field named": (["{tmp}/holes.jsonl"], ["expected --input_field naming the field that holds the question",
                                               "'question', 'answer'"]),
    "empty jsonl": (["{tmp}/empty.jsonl"], ["empty.jsonl: at $: expected at least one example"]),
    "missing column": (["{tmp}/columns.csv", "--input_field", "question", "--target_field", "reply"],
                       ["columns.csv: at line 2: expected a column named 'reply'"]),
    "ragged csv": (["{tmp}/ragged.csv"], ["ragged.csv: at line 3: expected 2 cells"]),
    "empty csv": (["{tmp}/header_only.csv"], ["header_only.csv: at line 2: expected at least one row"]),
    "not a number": (["{tmp}/words.jsonl", "--answer_type", "number", *DC],
                     ["words.jsonl: at line 1: expected a number target"]),
    "no choices": (["{tmp}/words.jsonl", "--answer_type", "choice", *DC], ["expected choices and one right choice"]),
    "unknown name": (["{tmp}/notes.txt"], ["cannot tell its format", "--format, one of bigbench, csv, hf, jsonl"]),
    "unknown format": (["{tmp}/ok.jsonl", "--format", "xml"],
                       ["unknown import format 'xml'; available: bigbench, csv, hf, jsonl"]),
    "empty dataset folder": (["{tmp}/no_data", *DC], ["no_data: at $: expected a datasets folder"]),
    "empty bigbench": (["{tmp}/bb", *DC], ["task.json: at $.examples: expected a non-empty list"]),
    "existing task": (["{tmp}/ok.jsonl", *DC], ["already exists; pass --force"]),
    "bad name": (["{tmp}/ok.jsonl", "--name", "bad name", *DC], ["task name 'bad name'"]),
    "limit 0": (["{tmp}/ok.jsonl", "--limit", "0"], ["--limit must be >= 1"]),
    "limit not int": (["{tmp}/ok.jsonl", "--limit", "many"], ["argument --limit: invalid int value: 'many'"]),
    "flag of another format": (["{tmp}/ok.jsonl", "--split", "train"], ["--split do not apply to the jsonl format"]),
    "field flag for bigbench": (["{tmp}/bb", "--input_field", "q"], ["--input_field do not apply to the bigbench"]),
    "bad answer type": (["{tmp}/ok.jsonl", "--answer_type", "boolean"],
                        ["argument --answer_type: invalid choice: 'boolean'"]),
    "unknown flag": (["{tmp}/ok.jsonl", "--no_such_flag"], ["unrecognized arguments: --no_such_flag"]),
    "no source": ([], ["the following arguments are required: SOURCE"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_every_bad_input_is_one_line_and_exit_code_2(bad_files, one_line_error, case):
    argv, texts = BAD_INPUTS[case]
    message = one_line_error(*(arg.format(tmp=bad_files) for arg in argv))
    for text in texts:
        assert text in message


def test_a_parquet_file_without_pyarrow_is_one_line(tmp_path, one_line_error, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail as if it were absent
    (tmp_path / "train.parquet").write_bytes(b"PAR1")
    assert "needs the pyarrow package" in one_line_error(tmp_path / "train.parquet", "--day_care_dir", tmp_path / "dc")
