"""Stopping a run early through the app: a budget or a signal ends it after the current step with exit 0,
a held-out report and a summary, and continuing it ends where an uninterrupted run ends."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from promptbreeder import cli
from promptbreeder.commands import breed

ROOT = Path(__file__).resolve().parents[1]
TASK = "arithmetic_1_digit_addition"


@pytest.fixture
def breeding_config(breeding_config):
    """tests/conftest.py's, over 4 generations."""
    return functools.partial(breeding_config, evolution_generations=4)


def final_state(run_dir):
    return json.loads(sorted((run_dir / "snapshots").iterdir())[-1].read_text())["state"]


def test_a_call_budget_stops_after_the_step_reports_and_continues_to_the_same_end(day_care, breeding_config, run_app,
                                                                                   tmp_path):
    code, text, _ = run_app(breeding_config(max_llm_calls=40))
    run_dir = day_care / TASK / "runs" / "run_1"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 0 and report["stopped"].startswith("budget of 40 model queries reached")
    assert 0 <= report["generation"] < 4 and "held-out comparison" in text
    assert f"stopped early: {report['stopped']}, after generation {report['generation']} of 4" in text
    assert "--continue_run_number 1" in text
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "stopped"] == [report["generation"]]

    code, text, _ = run_app(breeding_config(continue_run_number=1))
    assert code == 0 and "stopped early" not in text
    assert "stopped" not in json.loads((run_dir / "report.json").read_text())
    whole = tmp_path / "whole"
    shutil.copytree(ROOT / "day_care", whole, ignore=shutil.ignore_patterns("runs", "debug_runs"))
    run_app(breeding_config(day_care_dir=str(whole)))
    assert final_state(run_dir) == final_state(whole / TASK / "runs" / "run_1")


@pytest.mark.parametrize("budget", [{"max_generated_tokens": 1}, {"max_seconds": 0}])
def test_token_and_time_budgets_stop_after_the_first_step(day_care, breeding_config, run_app, budget):
    code, text, _ = run_app(breeding_config(**budget))
    report = json.loads((day_care / TASK / "runs" / "run_1" / "report.json").read_text())
    assert code == 0 and report["generation"] == 0 and "stopped early" in text


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_step_saves_and_reports(day_care, breeding_config, run_app, arithmetic_world,
                                                      signal_name):
    sent = []

    def responder(request):
        if request.name.startswith("fitness") and not sent and "boldly" in request.inputs["task_prompt"]:
            sent.append(True)  # mid-step: the step must still complete and be saved
            os.kill(os.getpid(), getattr(signal, signal_name))
        return arithmetic_world(request)

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code, text, _ = run_app(breeding_config(), responder)
    run_dir = day_care / TASK / "runs" / "run_1"
    report = json.loads((run_dir / "report.json").read_text())
    assert sent and code == 0 and report["stopped"] == f"{signal_name} received"
    last = sorted(p.name for p in (run_dir / "snapshots").iterdir())[-1]
    assert last == f"step_{report['generation']:06d}.json" and report["generation"] < 4
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers, "handlers put back"


def test_budget_flags_are_on_the_command_line_and_may_change_when_continuing(capsys):
    assert cli.main(["--max_llm_calls", "0", "--task", TASK]) == 2
    assert "max_llm_calls" in capsys.readouterr().err
    help_text = breed.build_parser().format_help()
    assert "--max_llm_calls" in help_text and "--max_generated_tokens" in help_text and "--max_seconds" in help_text


@pytest.mark.integration
def test_sigterm_stops_a_real_cli_run_cleanly_and_it_continues(day_care, real_cli_run):
    import subprocess
    import time

    args = real_cli_run
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = day_care / TASK / "runs" / "run_1"
    deadline = time.time() + 300
    while not (run_dir / "snapshots" / "step_000000.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    report = json.loads((run_dir / "report.json").read_text())
    assert report["stopped"] == "SIGTERM received" and report["generation"] < 2
    assert "stopped early: SIGTERM received" in out and "held-out comparison" in out and "Traceback" not in err
    done = subprocess.run(args + ["--continue_run_number", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and (run_dir / "snapshots" / "step_000002.json").is_file(), done.stderr


def test_a_metric_call_budget_counts_fitness_evaluations_across_a_continued_run(day_care, breeding_config, run_app):
    # 4 units x 5 examples at step 0 (20), then 2 tournaments x 2 units x 5 examples per generation (20)
    code, text, _ = run_app(breeding_config(max_metric_calls=30, evolution_generations=4))
    run_dir = day_care / TASK / "runs" / "run_1"
    report = json.loads((run_dir / "report.json").read_text())
    assert code == 0 and report["stopped"] == "budget of 30 metric calls reached (40 made)"
    assert report["generation"] == 1
    snapshot = json.loads(sorted((run_dir / "snapshots").glob("step_*.json"))[-1].read_text())
    assert snapshot["state"]["metric_calls"] == 40
    # continued with a larger budget: the count goes on from the saved 40, it does not start again at 0
    code, text, _ = run_app(breeding_config(continue_run_number=1, max_metric_calls=60, evolution_generations=4))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["stopped"] == "budget of 60 metric calls reached (60 made)" and report["generation"] == 2


def test_a_metric_call_budget_is_refused_where_evaluations_are_not_counted_one_by_one(shipped_day_care, capsys):
    task = shipped_day_care / "decoding_params"
    task.mkdir()
    spec = json.loads((shipped_day_care / TASK / "task_description.json").read_text()) | {"genome": "generation"}
    (task / "task_description.json").write_text(json.dumps(spec))
    shutil.copy(shipped_day_care / TASK / "fitness_suite.jsonl", task / "fitness_suite.jsonl")
    code = cli.main(["--task", "decoding_params", "--day_care_dir", str(shipped_day_care), "--max_metric_calls", "10"])
    err = capsys.readouterr().err
    assert code == 2 and "max_metric_calls: generation tasks do not count fitness evaluations" in err
    assert not (task / "runs").exists()
