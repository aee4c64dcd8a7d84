from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import pytest

from promptbreeder import app
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import resolve_config
from promptbreeder.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def config(**overrides):
    values = {"task": "arithmetic_1_digit_addition", "day_care_dir": str(ROOT / "day_care"), "population_size": 3,
              "initial_prompts_per_unit": 1, "evolution_generations": 0, "fitness_batch_size": 5, "test_CoT": False}
    return resolve_config(values | overrides, None)


def test_scores_the_initial_population_and_prints_them(monkeypatch):
    backend = FakeBackend(responder=lambda r: "5")
    monkeypatch.setattr(app, "create_backend", lambda cfg: backend)
    out = io.StringIO()
    assert app.run(config(), out=out) == 0
    text = out.getvalue()
    assert "3 units, 5 of 100 examples" in text
    assert len(backend.requests) == 15
    rows = [line for line in text.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 3 and all("0.200" in row or "0.000" in row for row in rows)


def test_same_seed_same_population_and_examples():
    task = type("T", (), {"seed_prompts": ["a", "b", "c"]})()
    first = app.initial_candidates(task, config(population_size=5, initial_prompts_per_unit=2), random.Random(1))
    again = app.initial_candidates(task, config(population_size=5, initial_prompts_per_unit=2), random.Random(1))
    assert first == again and len(first) == 5
    assert all(c.task_prompt_after and c.task_prompt_after != c.task_prompt for c in first)


@pytest.mark.parametrize("overrides, fragment", [
    ({"evolution_generations": 2}, "--evolution_generations 0"),
    ({"continue_run_number": 1}, "no stored runs"),
])
def test_settings_that_need_the_breeder_are_refused_clearly(overrides, fragment):
    with pytest.raises(UsageError, match=fragment):
        app.run(config(**overrides))


@pytest.mark.integration
def test_cli_scores_seed_prompts_on_the_real_model():
    proc = subprocess.run([sys.executable, "-m", "promptbreeder", "--config", "smoke", "--fitness_batch_size", "4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "unit   noCoT  prompt" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert " 0 failed" in proc.stdout


@pytest.mark.integration
def test_cli_bad_task_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "promptbreeder", "--task", "nope", "--evolution_generations", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "arithmetic_1_digit_addition" in proc.stderr


def test_a_run_where_every_query_fails_is_a_run_failure(monkeypatch):
    from promptbreeder.errors import RunError

    def broken(request):
        raise RuntimeError("model fell over")

    monkeypatch.setattr(app, "create_backend", lambda cfg: FakeBackend(responder=broken))
    with pytest.raises(RunError, match="every one of 15 queries failed; the first with: RuntimeError: model fell over"):
        app.run(config())
