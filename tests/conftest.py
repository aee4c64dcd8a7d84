"""Shared fixtures. `real_backend` loads the embedded model once per test session (integration tests);
the others breed on the shipped day care (or a toy HPO task) with a fake backend."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def real_model_dir():
    from promptbreeder.backends.models import resolve_model

    return resolve_model("smollm2-135m").local_dir()


@pytest.fixture(scope="session")
def real_backend(real_model_dir):
    from promptbreeder.backends.lmql.backend import LMQLLocalBackend

    backend = LMQLLocalBackend(real_model_dir, device="cpu", client_batch_size=8, server_batch_size=8, chunk_size=16)
    yield backend
    backend.close()


# -- the shipped day care, bred with a fake backend ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
ARITHMETIC_TASK = "arithmetic_1_digit_addition"


@pytest.fixture
def shipped_day_care(tmp_path):
    """A copy of the shipped `day_care/` folder in tmp, without its `runs`/`debug_runs`."""
    folder = tmp_path / "day_care"
    shutil.copytree(ROOT / "day_care", folder, ignore=shutil.ignore_patterns("runs", "debug_runs"))
    return folder


@pytest.fixture
def day_care(shipped_day_care):
    """`shipped_day_care`; a test module or conftest with a `day_care` of its own overrides it
    (tests/evolution/conftest.py: the shipped day care loaded; tests/test_app_config.py, tests/reporting: toy HPO ones)."""
    return shipped_day_care


@pytest.fixture
def breeding_config(shipped_day_care):
    """`breeding_config(**overrides)`: a small RunConfig for the arithmetic task of `shipped_day_care`
    (4 units, 1 prompt each, 2 generations, 5 fitness examples, no chain of thought). An override of
    None means the setting's default; `day_care_dir` may point elsewhere."""

    def make(**overrides):
        from promptbreeder.config import resolve_config

        values = {"task": ARITHMETIC_TASK, "day_care_dir": str(shipped_day_care), "population_size": 4,
                  "initial_prompts_per_unit": 1, "evolution_generations": 2, "fitness_batch_size": 5,
                  "test_CoT": False}
        return resolve_config(values | overrides, None)

    return make


def arithmetic_replies(request):
    """Right answers only for prompts mentioning 'carefully'; operators write a prompt with a word from the seed."""
    if request.name.startswith("fitness"):
        a, b = [int(w) for w in re.findall(r"\d+", request.inputs["question"])][:2]
        return str(a + b) if "carefully" in request.inputs["task_prompt"].lower() else "0"
    words = ["carefully", "slowly", "boldly", "gently"]
    text = f"Add the numbers {words[(request.seed or 0) % len(words)]} and answer."
    return {"PROMPT": text, "MUTATION": "Rewrite the instruction so it is clearer."}


@pytest.fixture
def arithmetic_world():
    """The fake replies `run_app` answers with unless told: see `arithmetic_replies`."""
    return arithmetic_replies


@pytest.fixture
def run_app(monkeypatch):
    """`run_app(config, responder=arithmetic_replies) -> (exit code, printed text, backend)`: `app.run` on a
    FakeBackend answering with `responder` (a fresh backend each call)."""
    from promptbreeder import app
    from promptbreeder.backends.fake import FakeBackend

    def run(config, responder=arithmetic_replies):
        backend = FakeBackend(responder=responder)
        monkeypatch.setattr(app, "create_backend", lambda c, spec=None: backend)
        out = io.StringIO()
        code = app.run(config, out=out)
        return code, out.getvalue(), backend

    return run


@pytest.fixture
def dashboard_rows(monkeypatch):
    """The rows a run sends to the dashboard's held-out table: `app.WandbTracker` becomes a tracker that
    records them here (runs with use_wandb=True)."""
    from promptbreeder import app
    from promptbreeder.tracking.base import Tracker

    rows = []

    class RecordingTracker(Tracker):
        def __init__(self, project):
            pass

        def heldout(self, new_rows):
            rows.extend(new_rows)

    monkeypatch.setattr(app, "WandbTracker", RecordingTracker)
    return rows


# -- a toy HPO task --------------------------------------------------------------------------------------------

TOY_HPO_OBJECTIVE = """
    def score(config):
        return -(config["x"] - 0.3) ** 2 - abs(config["n"] - 4) / 10 + (0.1 if config["kind"] == "b" else 0.0)
"""


@pytest.fixture
def add_toy_hpo_task(tmp_path, monkeypatch):
    """`add_toy_hpo_task(folder, task, module, **config_options)`: writes the task folder `folder/task` of a
    toy HPO task (a config genome over x, n and kind, maximizing `module:score`, best near x=0.3, n=4, kind b)
    and its objective `tmp_path/modules/<module>.py`, put on sys.path (a module of that name imported
    earlier is forgotten). Returns the task folder."""

    def add(folder: Path, task: str, module: str, **config_options) -> Path:
        modules = tmp_path / "modules"
        modules.mkdir(exist_ok=True)
        (modules / f"{module}.py").write_text(textwrap.dedent(TOY_HPO_OBJECTIVE))
        monkeypatch.syspath_prepend(str(modules))
        monkeypatch.delitem(sys.modules, module, raising=False)
        description = {
            "task_description": "Tune x, n and kind of a toy model; higher is better.",
            "genome": "config",
            "search_space": {
                "x": {"type": "float", "low": 0, "high": 1},
                "n": {"type": "int", "low": 1, "high": 10},
                "kind": {"type": "categorical", "choices": ["a", "b"]},
            },
            "objective": {"type": "python", "function": f"{module}:score"},
            "direction": "maximize",
            "config_options": config_options,
        }
        (folder / task).mkdir()
        (folder / task / "task_description.json").write_text(json.dumps(description, indent=2))
        return folder / task

    return add


@pytest.fixture(scope="session")
def query_compiles():
    """`query_compiles(text, chat_format=ChatML)`: LMQL compiles the query text as the backends send it
    (roles rendered, a decoder clause on top), else AssertionError naming LMQL's complaint."""
    from lmql.api.queries import query_from_string

    from promptbreeder.backends.chat import ChatFormat

    def check(text: str, chat_format: ChatFormat = ChatFormat.chatml()) -> None:
        try:
            query_from_string(f"argmax\n{chat_format.render(text).strip()}\n")
        except Exception as exc:  # LMQL raises many kinds for a query it cannot compile
            raise AssertionError(f"query does not compile: {type(exc).__name__}: {exc}") from None

    return check
