"""What the report computes, on hand-written run folders with known answers and on a bred prompt run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptbreeder.reporting import analysis
from promptbreeder.reporting.figures import INTROSPECTION_FIGURES, draw_figures
from promptbreeder.reporting.load import detect_kind, load_run


def prompt_unit(uid, prompt, fitness=None, parent=None, generation=0, operator="init"):
    return {"id": uid, "task_prompts": [prompt], "mutation_prompt": "m", "thinking_style": "t", "fitness": fitness,
            "parent": parent, "generation": generation, "operator": operator}


def write_run(folder: Path, populations: list[list[dict]], events: list[dict] = (), extra_state=None) -> Path:
    (folder / "snapshots").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"format_version": 1, "config": {"task": "t"}}))
    for step, population in enumerate(populations):
        state = {"generation": step, "population": population} | (extra_state or {})
        (folder / "snapshots" / f"step_{step:06d}.json").write_text(
            json.dumps({"format_version": 1, "step": step, "state": state}))
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return folder


def test_ancestors_gone_from_the_last_population_are_found_in_earlier_snapshots(tmp_path):
    run_dir = write_run(tmp_path / "run_1", [
        [prompt_unit("u0", "add", 0.1), prompt_unit("u1", "sum them", 0.2)],
        [prompt_unit("u2", "add well", 0.3, "u0", 1, "zero_order"), prompt_unit("u1", "sum them", 0.2)],
        [prompt_unit("u2", "add well", 0.3, "u0", 1, "zero_order"),
         prompt_unit("u3", "add very well", 0.5, "u2", 2, "first_order")],
    ])
    run = load_run(run_dir)
    assert analysis.best_unit_id(run) == "u3"
    chain = analysis.lineage(run)
    assert [u["id"] for u in chain] == ["u0", "u2", "u3"] and [u["operator"] for u in chain] == [
        "init", "zero_order", "first_order"]
    assert "u0" not in {u["id"] for u in run.population}


def test_a_lost_ancestor_is_named_and_ends_the_chain(tmp_path):
    run = load_run(write_run(tmp_path / "run_1", [[prompt_unit("u5", "add", 0.4, "u2", 3, "lineage")]]))
    assert analysis.lineage(run) == [{"id": "u2", "missing": True}, run.population[0]]
    assert "lineage" in draw_figures(run, tmp_path / "out").paths


def test_diversity_is_one_minus_jaccard_of_word_sets(tmp_path):
    run = load_run(write_run(tmp_path / "run_1", [
        [prompt_unit("u0", "add the numbers"), prompt_unit("u1", "Add the numbers!")],
        [prompt_unit("u0", "a b"), prompt_unit("u1", "c d")],
        [prompt_unit("u0", "a b"), prompt_unit("u1", "b c"), prompt_unit("u2", "a b")],
    ]))
    curve = analysis.diversity_curve(run)
    assert [g for g, _ in curve] == [0, 1, 2]
    assert curve[0][1] == 0.0 and curve[1][1] == 1.0
    assert curve[2][1] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)


def test_config_diversity_uses_the_search_space_bounds_and_log_scales(tmp_path):
    task = tmp_path / "task"
    space = {"lr": {"type": "float", "low": 0.001, "high": 1, "log": True},
             "kind": {"type": "categorical", "choices": ["a", "b"]}}
    (task / "runs").mkdir(parents=True)
    (task / "task_description.json").write_text(json.dumps({"genome": "config", "search_space": space}))
    units = [{"id": "u0", "config": {"lr": 0.001, "kind": "a"}, "fitness": 1.0, "score": 1.0, "parent": None},
             {"id": "u1", "config": {"lr": 0.1, "kind": "a"}, "fitness": 2.0, "score": 2.0, "parent": None}]
    run = load_run(write_run(task / "runs" / "run_1", [units]))
    assert run.kind == "config" and run.space is not None
    # lr: log(0.1/0.001) / log(1/0.001) = 2/3 of the range; kind: the same choice
    assert analysis.diversity_curve(run) == [(0, pytest.approx((2 / 3 + 0) / 2))]
    assert analysis.unit_text(run, units[0]) == '{"lr": 0.001, "kind": "a"}'


def test_without_a_task_folder_configs_are_normalised_by_the_range_seen(tmp_path):
    units = [{"id": f"u{i}", "config": {"x": x, "kind": k}, "fitness": 0.0, "score": 0.0, "parent": None}
             for i, (x, k) in enumerate([(0.0, "a"), (2.0, "b")])]
    run = load_run(write_run(tmp_path / "run_1", [units]))
    assert run.kind == "config" and run.space is None
    assert analysis.diversity_curve(run) == [(0, 1.0)]


def test_the_fitness_curve_fills_steps_without_events_from_the_snapshots(tmp_path):
    events = [{"event": "generation", "generation": 0, "best": 0.1, "mean": 0.05},
              {"event": "generation", "generation": 0, "best": 0.2, "mean": 0.1}]  # a replayed step
    run = load_run(write_run(tmp_path / "run_1", [
        [prompt_unit("u0", "a", 0.2), prompt_unit("u1", "b", 0.0)],
        [prompt_unit("u0", "a", 0.4), prompt_unit("u1", "b", float("-inf")), prompt_unit("u2", "c")],
    ], events))
    assert analysis.fitness_curve(run) == [analysis.GenerationPoint(0, 0.2, 0.1),
                                           analysis.GenerationPoint(1, 0.4, 0.4)]


def test_operator_rates_from_events_match_the_prompt_genomes_own_counts(prompt_run):
    run = load_run(prompt_run)
    counted = analysis.operator_rates(run)
    assert counted and sum(r.used for r in counted) > 0
    del run.last.state["operator_stats"]
    assert analysis.operator_rates(run) == counted


def test_operator_rates_from_tournament_events(tmp_path):
    events = [
        {"event": "tournament", "pair": ["u0", "u1"], "fitness": [0.5, 0.2], "winner": "u0", "child": "u2",
         "operator": "perturb", "tried": ["llm_proposal", "perturb"], "post": []},
        {"event": "tournament", "pair": ["u0", "u3"], "fitness": [0.5, 0.4], "winner": "u0", "child": None,
         "operator": None, "tried": [], "post": [], "elite_saved": True},
        {"event": "tournament", "pair": ["u2", "u0"], "fitness": [0.7, 0.5], "winner": "u2", "child": "u4",
         "operator": "copy", "tried": ["llm_proposal"], "post": []},
        {"event": "tournament", "pair": ["u4", "u3"], "fitness": [0.9, 0.4], "winner": "u4", "child": "u5",
         "operator": "perturb", "tried": ["perturb"], "post": []},
    ]
    run = load_run(write_run(tmp_path / "run_1", [[prompt_unit("u0", "a", 0.5)]], events))
    assert analysis.operator_rates(run) == [analysis.OperatorRate("llm_proposal", 2, 0),
                                            analysis.OperatorRate("perturb", 2, 1)], "a copy is never credited"


@pytest.mark.parametrize("unit, task, report, kind", [
    ({"task_prompts": ["a"]}, None, None, "prompt"),
    ({"config": {}}, None, {"genome": "config"}, "config"),
    ({"config": {}}, {"genome": "generation"}, {"genome": "config"}, "generation"),
    ({"text": "x"}, None, {"genome": "text"}, "text"),
    ({"text": "x"}, {"genome": "code"}, None, "code"),
    ({"task_prompts": ["a"]}, {"genome": "code"}, None, "prompt"),  # the units win over an edited task
])
def test_the_genome_kind_comes_from_the_units_refined_by_the_task(unit, task, report, kind):
    assert detect_kind([unit], task, report) == kind


def test_a_long_lineage_is_drawn_with_its_middle_elided_and_listed_whole(tmp_path):
    chain = [prompt_unit("u0", "start", 0.0)] + [
        prompt_unit(f"u{i}", f"step {i} " + "word " * 40, i / 40, f"u{i - 1}", i, "zero_order") for i in range(1, 40)]
    run = load_run(write_run(tmp_path / "run_1", [chain]))
    assert [u["id"] for u in analysis.lineage(run)] == [f"u{i}" for i in range(40)]
    drawn = draw_figures(run, tmp_path / "out")
    assert set(drawn.paths) == {"fitness", "diversity", "lineage"}
    core = {k: v for k, v in drawn.skipped.items() if k not in INTROSPECTION_FIGURES}
    assert core == {"heldout": "report.json is missing: the run is still going or was stopped before its end",
                    "operators": "no operator has been used yet"}
