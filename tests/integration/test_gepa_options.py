"""GEPA's options on the real embedded model, through the command line: Pareto selection, the merge and
reflective operators and the prompt-length objective in one small run, continued after a kill."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASK = "arithmetic_1_digit_addition"


@pytest.mark.integration
def test_a_pareto_run_with_every_option_breeds_reports_its_front_and_continues(day_care, real_cli_run, real_model_dir):
    options = ["--selection", "pareto", "--pareto_examples", "6", "--merge_units", "--reflective_mutation",
               "--second_objective", "prompt_tokens", "--token_cost", "0.002"]
    first = subprocess.run(real_cli_run + options + ["--evolution_generations", "1"], cwd=ROOT, capture_output=True,
                           text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    done = subprocess.run(real_cli_run + options + ["--continue_run_number", "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    run_dir = day_care / TASK / "runs" / "run_1"
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    fronts = [e for e in events if e["event"] == "pareto"]
    assert [e["generation"] for e in fronts] == [1, 2] and not any(e["event"] == "tournament" for e in events)
    # the embedded model gets some of the 6 sums right: the frontier has units, and parents come from it
    assert all(e["front"] and set(e["parents"]) <= set(e["front"]) for e in fronts), fronts
    state = json.loads(sorted((run_dir / "snapshots").glob("step_*.json"))[-1].read_text())["state"]
    scored = [u for u in state["population"] if u["fitness"] is not None]
    assert scored and all(len(u["example_scores"]) == 6 for u in scored)
    assert state["metric_calls"] == 6 * (4 + sum(len(e["children"]) for e in fronts[:-1]))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["second_objective"] == {"name": "prompt_tokens", "token_cost": 0.002}
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_model_dir)
    for row in report["rows"]:
        assert row["prompt_tokens"] == sum(len(tokenizer.encode(p, add_special_tokens=False)) for p in row["task_prompts"])
    assert "score per token" in done.stdout
