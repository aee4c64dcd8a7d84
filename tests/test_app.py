from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptbreeder.errors import RunError, UsageError

ROOT = Path(__file__).resolve().parents[1]
TASK = "arithmetic_1_digit_addition"


def test_a_run_breeds_stores_and_reports(day_care, breeding_config, run_app):
    code, text, backend = run_app(breeding_config())
    assert code == 0
    run_dir = day_care / TASK / "runs" / "run_1"
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir()) == ["step_000000.json", "step_000001.json", "step_000002.json"]
    assert (run_dir / "cache.sqlite").is_file() and (run_dir / "config.json").is_file()
    from promptbreeder.store.cache import CallCache

    cache = CallCache(run_dir / "cache.sqlite")
    assert cache.count("fitness") > 0 and cache.count("calls") > 0, "calls and scored answers are both kept"
    cache.close()
    assert "held-out comparison on 20 examples" in text and "baseline: task description" in text
    assert re.search(r"\d+ model queries \(\d+ answered and \d+ fitness results reused from the run's cache\)", text)
    events = [json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events.count("generation") == 3 and "tournament" in events and events[-2:] == ["report", "usage"]
    assert events[1] == "models"
    report = json.loads((run_dir / "report.json").read_text())
    assert {role: r["model"] for role, r in report["models"].items()} == dict.fromkeys(
        ("task", "mutation", "scorer"), "smollm2-135m")
    assert report["generation"] == 2 and [r["name"] for r in report["rows"]][-5:] == [
        "baseline: task description", "baseline: task description + step by step",
        "baseline: seed prompt 1", "baseline: seed prompt 2", "baseline: seed prompt 3"], "the task's seed prompts"


def test_continuing_with_more_generations_goes_on_from_the_last_step(day_care, breeding_config, run_app):
    assert run_app(breeding_config(evolution_generations=1))[0] == 0
    code, text, backend = run_app(breeding_config(evolution_generations=3, continue_run_number=1))
    assert code == 0
    snapshots = sorted(p.name for p in (day_care / TASK / "runs" / "run_1" / "snapshots").iterdir())
    assert snapshots[-1] == "step_000003.json" and len(snapshots) == 4
    assert "run 1 of" in text and not (day_care / TASK / "runs" / "run_2").exists()


def test_a_repeated_run_answers_from_its_cache(day_care, breeding_config, run_app):
    assert run_app(breeding_config(evolution_generations=1))[0] == 0
    store = day_care / TASK / "runs" / "run_1"
    shutil.rmtree(store / "snapshots")  # replay the whole run against the same cache
    (store / "events.jsonl").unlink()
    code, text, backend = run_app(breeding_config(evolution_generations=1, continue_run_number=1))
    assert code == 0 and len(backend.requests) == 0
    # fitness answers come back as scored results; the operators' calls from the call cache
    found = re.search(r"0 model queries \((\d+) answered and (\d+) fitness results reused from the run's cache\)", text)
    assert found and int(found.group(1)) > 0 and int(found.group(2)) > 0, text


def test_a_finished_run_continued_with_another_token_cost_picks_again_from_its_cache(day_care, breeding_config, run_app):
    def longer_is_better(request):
        """Prompts of 1 to 8 words (by seed); a prompt of n words is right on about n/8 of the questions."""
        if request.name.startswith("fitness"):
            a, b = [int(w) for w in re.findall(r"\d+", request.inputs["question"])][:2]
            words = len(request.inputs["task_prompt"].split())
            return str(a + b) if (7 * a + 3 * b) % 8 < words else "0"
        return {"PROMPT": " ".join(["Add"] + ["carefully"] * ((request.seed or 0) % 8)), "MUTATION": "Vary it."}

    settings = dict(evolution_generations=2, second_objective="prompt_tokens", selection_examples=10,
                    population_size=8)
    assert run_app(breeding_config(**settings), responder=longer_is_better)[0] == 0
    report_file = day_care / TASK / "runs" / "run_1" / "report.json"
    first = json.loads(report_file.read_text())
    assert len([r for r in first["rows"] if r["id"] is not None]) >= 2, "a front with a trade-off"
    code, text, backend = run_app(breeding_config(**settings, token_cost=1.0, continue_run_number=1),
                                  responder=longer_is_better)
    again = json.loads(report_file.read_text())
    assert code == 0 and len(backend.requests) == 0, "the same front, scored from the run's cache"
    assert again["second_objective"]["token_cost"] == 1.0 and "picked at 1 score per token" in text
    bred = [r for r in again["rows"] if r["id"] is not None]
    assert sorted(r["id"] for r in bred) == sorted(r["id"] for r in first["rows"] if r["id"] is not None)
    assert bred[0]["prompt_tokens"] == min(r["prompt_tokens"] for r in bred) < first["rows"][0]["prompt_tokens"]
    assert again["generation"] == first["generation"] == 2


def test_continue_refuses_settings_that_define_the_run(breeding_config, run_app):
    assert run_app(breeding_config(evolution_generations=1))[0] == 0
    with pytest.raises(UsageError, match="population_size: run has 4, asked 6"):
        run_app(breeding_config(population_size=6, continue_run_number=1))
    with pytest.raises(UsageError, match="no run 9"):
        run_app(breeding_config(continue_run_number=9))


def test_debug_mode_uses_its_own_folder(day_care, breeding_config, run_app):
    assert run_app(breeding_config(debug_mode=True, evolution_generations=1))[0] == 0
    assert (day_care / TASK / "debug_runs" / "run_1").is_dir() and not (day_care / TASK / "runs").exists()


def test_a_run_where_every_query_fails_is_a_run_failure(breeding_config, run_app):
    def broken(request):
        raise RuntimeError("model fell over")

    with pytest.raises(RunError, match="failed"):
        run_app(breeding_config(evolution_generations=0), responder=broken)


@pytest.mark.integration
def test_cli_breeds_on_the_real_model_and_survives_kill_9(day_care, real_cli_run):
    args = real_cli_run
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    snapshots = day_care / TASK / "runs" / "run_1" / "snapshots"
    deadline = time.time() + 300
    while not (snapshots / "step_000001.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(args + ["--continue_run_number", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "held-out comparison" in done.stdout and "Traceback" not in done.stderr
    assert (snapshots / "step_000002.json").is_file()
    assert not (day_care / TASK / "runs" / "run_2").exists()


def test_cli_bad_task_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "promptbreeder", "--task", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "arithmetic_1_digit_addition" in proc.stderr


def test_a_bad_model_name_leaves_no_run_folder(day_care, breeding_config):
    import io

    from promptbreeder import app
    from promptbreeder.errors import ModelError

    for model in ("nope", "lmql-serve:smollm2-135m@nohost"):
        with pytest.raises(ModelError):
            app.run(breeding_config(model_name_or_path=model), out=io.StringIO())
    assert not (day_care / TASK / "runs").exists()
