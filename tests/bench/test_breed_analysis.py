"""bench/breed.py's analysis: which rows are compared, the paired bootstrap, and "no signal"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_breed", Path(__file__).resolve().parents[2] / "bench" / "breed.py")
breed = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(breed)


def run(unit, *baselines, seed=0):
    rows = [{"name": "unit u1", "bred": True, "best": True, "task_prompts": ["Bred."], "scores": unit,
             "answers": [str(s) for s in unit]},
            {"name": "unit u2", "bred": True, "best": False, "task_prompts": ["Other."], "scores": [1.0] * len(unit),
             "answers": ["1"] * len(unit)}]
    rows += [{"name": f"baseline: b{i}", "bred": False, "best": False, "task_prompts": [f"B{i}."], "scores": b,
              "answers": [str(s) for s in b]} for i, b in enumerate(baselines)]
    return {"task": "t", "seed": seed, "heldout_examples": len(unit), "wall_s": 1.0, "model_calls": 10,
            "rows": rows, "quality": {"init": {"checked": 4, "rejected": 1}}}


def test_the_best_unit_by_training_fitness_meets_the_best_baseline_on_held_out_data():
    unit, base, row = breed.compared(run([1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]))
    assert list(unit) == [1, 0, 0, 0] and list(base) == [1, 1, 0, 0] and row["name"] == "baseline: b1"
    # unit u2 is better on held-out data, but it is not the unit the run would hand a user


def test_the_interval_is_paired_and_covers_seeds_and_examples():
    always = [run([1.0] * 20, [0.0] * 20, seed=s) for s in range(3)]
    assert breed.bootstrap_gain([breed.compared(r)[:2] for r in always]) == (1.0, 1.0, 1.0)
    same = [run([1.0, 0.0] * 10, [1.0, 0.0] * 10, seed=s) for s in range(3)]
    assert breed.bootstrap_gain([breed.compared(r)[:2] for r in same]) == (0.0, 0.0, 0.0), "paired draws"
    mixed = breed.summarise("t", [run([1.0, 0.0] * 10, [0.0, 0.0] * 10), run([0.0] * 20, [0.0, 0.0] * 10, seed=1)])
    assert mixed["gain"] == pytest.approx(0.25) and mixed["low"] < 0.25 < mixed["high"]
    assert mixed["repeat0_gain"] == pytest.approx(0.5) and mixed["gate_pass"] == pytest.approx(0.75)


def test_a_task_where_no_prompt_changes_any_outcome_has_no_signal():
    flat = breed.summarise("t", [run([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])])
    assert flat["signal"] == 0.0 and flat["verdict"] == "no signal"
    varied = breed.summarise("t", [run([1.0, 1.0, 0.0], [0.0, 1.0, 0.0])])
    assert varied["signal"] == pytest.approx(2 / 3) and varied["verdict"] != "no signal"


@pytest.mark.parametrize("examples, fraction", [(100, 0.7), (300, 0.667), (1000, 0.2), (5000, 0.2)])
def test_held_out_splits_reach_200_examples_where_the_data_has_them(examples, fraction):
    assert breed.heldout_fraction(examples) == fraction


def test_wall_time_and_calls_come_from_runs_that_were_not_continued():
    whole, continued = run([1.0] * 4, [0.0] * 4), run([1.0] * 4, [0.0] * 4, seed=1)
    whole["wall_s"], continued["wall_s"], continued["resumed"] = 300.0, 20.0, True
    summary = breed.summarise("t", [whole, continued])
    assert summary["wall_s"] == 300.0 and summary["calls"] == 10.0
    only_continued = breed.summarise("t", [continued])
    assert only_continued["wall_s"] is None and "| - | - |" in breed.table([only_continued])
