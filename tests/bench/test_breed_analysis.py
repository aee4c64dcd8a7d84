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


def variant_run(unit, baseline, seed, variant, calls=1120):
    r = run(unit, baseline, seed=seed)
    r.update(variant=variant, metric_calls=calls, generations=6, operator_stats={"merge": {"used": 2, "failed": 1, "beat_parent": 1}})
    return r


def test_each_variant_is_paired_with_the_paper_variant_of_the_same_seed():
    paper = {s: variant_run([1.0, 0.0] * 10, [0.0] * 20, s, "paper") for s in range(3)}
    better = [variant_run([1.0] * 20, [0.0] * 20, s, "merge", calls=1100) for s in range(3)]
    summary = breed.summarise_variant("t", "merge", better, paper)
    gain, low, high = summary["vs_paper"]
    assert gain == pytest.approx(0.5) and 0.3 < low < 0.5 < high < 0.7, "examples resampled: the paper's vary"
    assert summary["vs_paper_seed0"] == pytest.approx(0.5) and summary["metric_calls"] == 1100
    assert summary["children"] == {"reflective": {"tried": 0, "made": 0, "beat_parent": 0},
                                   "merge": {"tried": 6, "made": 3, "beat_parent": 3}}
    itself = breed.summarise_variant("t", "paper", list(paper.values()), paper)
    assert "vs_paper" not in itself, "the paper variant is the reference, not compared with itself"
    text = breed.variant_table([itself, summary])
    assert "| t | merge | 3 | 20 | 1.000 |" in text and "| +50.0 [" in text and "| - | 6 / 3 / 3 |" in text


def test_the_variants_section_is_replaced_in_place_and_kept_by_the_main_table(tmp_path):
    from types import SimpleNamespace

    docs = tmp_path / "breeding_results.md"
    docs.write_text("# Breeding results\n\nmain table\n")
    args = SimpleNamespace(set=[], max_metric_calls=1120)
    paper = {0: variant_run([1.0, 0.0], [0.0, 0.0], 0, "paper")}
    breed.write_variant_docs([breed.summarise_variant("t", "paper", list(paper.values()), paper)], docs, args)
    first = docs.read_text()
    assert first.startswith("# Breeding results\n\nmain table\n") and first.count(breed.VARIANTS_BEGIN) == 1
    breed.write_variant_docs([breed.summarise_variant("t", "paper", list(paper.values()), paper)], docs, args)
    assert docs.read_text() == first, "written again: replaced, not appended"
    assert "`max_metric_calls=1120`" in first and "`selection=pareto`" in first
    assert "mutation model `smollm2-135m`" in first
    stronger = tmp_path / "stronger.md"
    breed.write_variant_docs([], stronger, SimpleNamespace(set=[("mutation_model", "big")], max_metric_calls=1120))
    assert "mutation model `big`" in stronger.read_text(), "the mutator named is the one the runs used"
    breed.write_docs([breed.summarise("t", [run([1.0] * 4, [0.0] * 4)])], docs,
                     SimpleNamespace(set=[], docs=docs))
    rewritten = docs.read_text()
    assert "| t | 1 | 4 |" in rewritten and breed.VARIANTS_BEGIN in rewritten and "| t | paper | 1 |" in rewritten
