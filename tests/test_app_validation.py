"""Everything a run reads is checked before a run folder exists and before a model loads: each bad input is
one typed error naming the file, and no `runs/` folder appears (issue 16's cases)."""

from __future__ import annotations

import json

import pytest

from promptbreeder.errors import PromptbreederError

TASK = "arithmetic_1_digit_addition"


def _suite(day_care):
    return day_care / TASK / "fitness_suite.jsonl"


def _override(day_care, name, text, task_level=False):
    folder = (day_care / TASK / "queries") if task_level else (day_care / "queries")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.lmql").write_text(text)


CASES = {
    "empty suite": (lambda d: _suite(d).write_text(""), "fitness_suite.jsonl"),
    "suite not JSONL": (lambda d: _suite(d).write_text("input,gold\n1,2\n"), "fitness_suite.jsonl"),
    "rows without gold": (lambda d: _suite(d).write_text(json.dumps({"input": "What is 1 plus 1?"}) + "\n"),
                          "gold_arithmetic_1_digit_addition"),
    "non-UTF-8 suite": (lambda d: _suite(d).write_bytes(b'{"input": "\xff\xfe", "gold_x": 1}\n'), "UTF-8"),
    "a 50 MB line": (lambda d: _suite(d).write_text(json.dumps({"input": "x" * 50_000_000}) + "\n"),
                     "fitness_suite.jsonl"),
    "override missing a hole": (lambda d: _override(d, "first_order", '"{mutation_prompt} [NEW]"'),
                                "first_order.lmql"),
    "operator override that does not compile": (
        lambda d: _override(d, "zero_order", '"{task_description} [PROMPT]" where len(TOKENS(PROMPT) < 5 and ((',
                            task_level=True), "zero_order.lmql"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_stops_the_run_before_a_run_folder_or_a_model(case, shipped_day_care, breeding_config, run_app):
    damage, named = CASES[case]
    damage(shipped_day_care)
    with pytest.raises(PromptbreederError) as raised:
        run_app(breeding_config())
    assert named in str(raised.value) and "\n" not in str(raised.value)
    assert not (shipped_day_care / TASK / "runs").exists(), f"{case}: a run folder was made"


def test_a_missing_fitness_test_suite_flag_file_stops_it_too(shipped_day_care, breeding_config, run_app):
    with pytest.raises(PromptbreederError, match="nope.jsonl"):
        run_app(breeding_config(fitness_test_suite=str(shipped_day_care / "nope.jsonl")))
    assert not (shipped_day_care / TASK / "runs").exists()


def test_the_suite_is_read_once_per_run(shipped_day_care, breeding_config, run_app, monkeypatch):
    from promptbreeder.genomes.prompt import task as task_module

    reads = []
    real = task_module.read_examples
    monkeypatch.setattr(task_module, "read_examples", lambda path: reads.append(path) or real(path))
    code, _, _ = run_app(breeding_config(evolution_generations=0))
    assert code == 0 and len(reads) == 1


def test_pareto_selection_is_refused_for_a_genome_without_per_example_scores(shipped_day_care, capsys):
    from promptbreeder import cli

    code = cli.main(["--task", "hpo_svm_wine", "--day_care_dir", str(shipped_day_care), "--selection", "pareto"])
    err = capsys.readouterr().err
    assert code == 2 and "selection: pareto needs a score per training example, which config tasks do not have" in err
    assert "kinds that do: prompt" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (shipped_day_care / "hpo_svm_wine" / "runs").exists()


def test_a_second_objective_is_refused_where_the_genome_does_not_weigh_it(shipped_day_care, capsys):
    from promptbreeder import cli

    code = cli.main(["--task", "hpo_svm_wine", "--day_care_dir", str(shipped_day_care),
                     "--second_objective", "prompt_tokens"])
    err = capsys.readouterr().err
    assert code == 2 and "second_objective: prompt_tokens is not an objective of config tasks" in err
    assert "(kinds that weigh it: prompt)" in err and len(err.strip().splitlines()) == 1
    assert not (shipped_day_care / "hpo_svm_wine" / "runs").exists()
