"""Formats by name and auto-detection from the source's name."""

from __future__ import annotations

import json

import pytest

from promptbreeder.errors import DayCareError, UsageError
from promptbreeder.importers.registry import detect_importer, format_names, importer_named


def test_unknown_format_lists_the_available_ones():
    assert format_names() == ["bigbench", "csv", "hf", "jsonl"]
    with pytest.raises(UsageError, match=r"unknown import format 'xml'; available: bigbench, csv, hf, jsonl"):
        importer_named("xml")


@pytest.mark.parametrize("name, content, expected", [
    ("task.json", "{}", "bigbench"),
    ("other.json", '{"examples": []}', "bigbench"),
    ("records.json", '[{"input": "a"}]', "jsonl"),
    ("lines.json", '{"input": "a"}\n{"input": "b"}\n', "jsonl"),
    ("data.jsonl", "", "jsonl"),
    ("data.NDJSON", "", "jsonl"),
    ("data.csv", "", "csv"),
    ("data.tsv", "", "csv"),
    ("data.parquet", "", "hf"),
    ("data-00000-of-00001.arrow", "", "hf"),
])
def test_files_are_told_by_name(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert detect_importer(path).name == expected


def test_folders(tmp_path):
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / "task.json").write_text(json.dumps({"examples": []}))
    (tmp_path / "ds").mkdir()
    assert detect_importer(tmp_path / "bb").name == "bigbench"
    assert detect_importer(tmp_path / "ds").name == "hf"


def test_unknown_names_and_missing_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match=r"cannot tell its format .* pass --format, one of bigbench, csv, hf, jsonl"):
        detect_importer(tmp_path / "notes.txt")
    with pytest.raises(DayCareError, match="not found"):
        detect_importer(tmp_path / "missing.csv")
