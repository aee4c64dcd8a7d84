"""The report's verdict line: the best bred unit against the best baseline, beyond noise or not."""

from __future__ import annotations

import pytest

from promptbreeder.genomes.prompt.report import format_report, verdict


def row(name, scores, unit=True, prompt=None):
    return {"name": name, "id": name.removeprefix("unit ") if unit else None, "task_prompts": [prompt or name],
            "train_fitness": None,
            "selection_fitness": None, "heldout": {"noCoT": sum(scores) / len(scores)},
            "heldout_scores": {"noCoT": scores}, "heldout_fitness": sum(scores) / len(scores)}


def report(bred, *baselines):
    return {"heldout_examples": len(bred), "variants": ["noCoT"],
            "rows": [row("unit u1", bred)] + [row(f"baseline: seed prompt {i}", b, unit=False)
                                             for i, b in enumerate(baselines, 1)]}


def test_a_clear_win_over_the_best_baseline():
    said = verdict(report([1.0] * 16 + [0.0] * 4, [1.0] * 4 + [0.0] * 16, [1.0] * 8 + [0.0] * 12))
    assert said.startswith("best bred unit u1 (0.800) beats the best baseline, seed prompt 2 (0.400): +40.0 points")
    assert said.endswith("over 20 held-out examples")


def test_a_clear_loss_and_a_difference_within_noise():
    assert " loses to " in verdict(report([0.0] * 20, [1.0] * 12 + [0.0] * 8))
    assert " cannot be told apart from " in verdict(report([1.0, 0.0] * 10, [0.0, 1.0] * 10))


def test_paired_per_example():
    # same mean, but the bred unit is right exactly where the baseline is: difference 0, no verdict either way
    said = verdict(report([1.0] * 10 + [0.0] * 10, [1.0] * 10 + [0.0] * 10))
    assert "+0.0 points, standard error 0.0" in said and "cannot be told apart" in said


@pytest.mark.parametrize("rows", [[], [row("baseline: task description", [1.0], unit=False)], [row("unit u1", [1.0])]])
def test_nothing_to_compare(rows):
    assert verdict({"heldout_examples": 1, "variants": ["noCoT"], "rows": rows}) is None


def test_one_held_out_example_has_no_verdict():
    assert verdict(report([1.0], [0.0])) is None


def test_the_console_report_ends_with_the_verdict():
    text = format_report(report([1.0] * 20, [0.0] * 20))
    assert text.splitlines()[-1].startswith("best bred unit u1 (1.000) beats the best baseline")


def test_a_best_unit_that_is_a_seed_prompt_as_written_is_not_called_bred():
    kept = report([1.0] * 12 + [0.0] * 8, [1.0] * 4 + [0.0] * 16, [1.0] * 12 + [0.0] * 8)
    kept["rows"][0]["task_prompts"] = ["baseline: seed prompt 2"]
    assert verdict(kept) == ("best unit u1 is the best baseline, seed prompt 2, unchanged (0.600): breeding found"
                             " no better prompt on its training data")
    kept["rows"][0]["task_prompts"] = ["baseline: seed prompt 1"]
    kept["rows"][0]["heldout_scores"] = kept["rows"][1]["heldout_scores"]
    kept["rows"][0]["heldout_fitness"] = 0.2
    assert verdict(kept).startswith("best unit u1 (seed prompt 1, unchanged) (0.200) loses to the best baseline,"
                                    " seed prompt 2 (0.600)")
    shown = report([1.0] * 12 + [0.0] * 8, [1.0] * 12 + [0.0] * 8)
    shown["rows"][0]["task_prompts"] = ["baseline: seed prompt 1"]
    shown["rows"][0]["heldout_answers"], shown["rows"][1]["heldout_answers"] = {"noCoT": ["4"]}, {"noCoT": ["5"]}
    assert verdict(shown).startswith("best bred unit u1"), "its context, shown with the prompt, made other answers"
