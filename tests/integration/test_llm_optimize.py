"""llm_optimize's examples on the real embedded model: the palindrome under an LLM-graded rubric."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_palindrome_example_grades_every_candidate_with_the_model(capsys):
    spec = importlib.util.spec_from_file_location("palindrome", ROOT / "examples" / "palindrome_llm_scorer.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--max_steps", "1", "--grader_tokens", "48"])
    assert result.steps == 1 and len(result.history) == 2
    assert result.history[0]["text"] == example.X0
    for entry in result.history:  # the grader's own words, or why they could not be read
        assert entry["feedback"].strip(), entry
        assert entry["score"] == 0.0 or "final_score" in entry["feedback"]
    assert "grader:" in capsys.readouterr().out
