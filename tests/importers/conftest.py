"""Helpers for the importer tests: write small sources, run `promptbreeder import` through the real CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from promptbreeder import cli

REPO = Path(__file__).resolve().parents[2]
SHARED_BIGBENCH = Path("/work/shared/data/bigbench")


def _write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_csv(path: Path, header, rows, delimiter=",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def write_jsonl():
    """`write_jsonl(path, rows) -> path`: one JSON object per line."""
    return _write_jsonl


@pytest.fixture
def write_csv():
    """`write_csv(path, header, rows, delimiter=",") -> path`."""
    return _write_csv


@pytest.fixture
def day_care(tmp_path) -> Path:
    """An empty day care with the project's mutation prompts and thinking styles (enough for a run)."""
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(REPO / "day_care" / name, root / name)
    return root


@pytest.fixture
def run_import(capsys):
    """`run_import(*argv) -> (exit code, stdout, stderr)` through `promptbreeder.cli.main`."""
    def run(*argv):
        code = cli.main(["import", *map(str, argv)])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def one_line_error(run_import):
    """`one_line_error(*argv) -> the message`, asserting exit code 2 and exactly one line on stderr."""
    def run(*argv):
        code, out, err = run_import(*argv)
        lines = err.splitlines()
        assert code == 2, (code, out, err)
        assert len(lines) == 1, err
        assert lines[0].startswith("promptbreeder: error: ") and "Traceback" not in err
        return lines[0][len("promptbreeder: error: "):]
    return run
