"""A LLaMA Day Care folder, converted, bred on the embedded model with bred system prompts (as the
original's units hold one): the model writes each unit's system prompt and every fitness test asks under it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_a_converted_llama_day_care_breeds_system_prompts_on_the_real_model(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    ours = tmp_path / "ours"
    convert = subprocess.run([sys.executable, "-m", "promptbreeder", "convert-day-care", str(folder), str(ours),
                              "--fitness_test_suite", str(suite), "--input_field", "question"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert convert.returncode == 0, convert.stderr
    breed = subprocess.run([sys.executable, "-m", "promptbreeder", "--config", "smoke", "--day_care_dir", str(ours),
                            "--task", "arithmetic", "--breed_system_prompt", "--evolution_generations", "1",
                            "--fitness_batch_size", "4", "--selection_examples", "4"],
                           cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert breed.returncode == 0, breed.stderr
    assert "[system: " in breed.stdout, "the report shows the bred system prompts"
    run = ours / "arithmetic" / "runs" / "run_1"
    last = sorted((run / "snapshots").glob("step_*.json"))[-1]
    units = json.loads(last.read_text())["state"]["population"]
    systems = {u["system_prompt"] for u in units}
    assert all(isinstance(s, str) and s.strip() for s in systems)
    with sqlite3.connect(run / "cache.sqlite") as db:
        written = [json.loads(v)["PROMPT"] for (v,) in
                   db.execute("SELECT variables FROM calls WHERE name = 'init_system_prompt'")]
        fitness_prompts = [p for (p,) in db.execute("SELECT prompt FROM calls WHERE name LIKE 'fitness_%'")]
    assert len(written) >= 3, "the model wrote the start units' system prompts"
    # every unit's system prompt is one the model wrote or mutated, and the fitness tests asked under them
    for system in systems:
        assert any(system.strip() in p for p in fitness_prompts), system
