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
def small_report():
    """Settings that shrink a real run's end-of-run report (no re-ranking, 5 held-out examples), for the
    real-model tests that check the run itself: the report's evaluations were most of their time."""
    return {"selection_examples": 0, "heldout_fraction": 0.05}


@pytest.fixture
def real_cli_run(day_care, small_report):
    """The command line of a 2-generation smoke run on the embedded model in `day_care`, with a small report."""
    return [sys.executable, "-m", "promptbreeder", "--config", "smoke", "--day_care_dir", str(day_care),
            "--fitness_batch_size", "4", "--evolution_generations", "2",
            *(item for key, value in small_report.items() for item in (f"--{key}", str(value)))]


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


# -- a day care in LLaMA Day Care's own format (our wording, its structure) ---------------------------------
# an HJSON breeder.lmql with pre-0.7 LMQL queries and their _args, id -> text prompt lists, tasks whose
# task_description.json has only the original's fields, and one fitness test suite for all of them

LLAMA_BREEDER_LMQL = '''\
{
  # the fitness test: the unit's prompts, then the example's fields
  fitness_test_template:
    \'\'\'
    argmax
      "[[INST]] <<SYS>>{system_prompt}<</SYS>> {task_prompt} {question} [[/INST]]"
      "Answer: [REQUIREMENT]"
    from {model_name_or_path}
    where STOPS_AT(REQUIREMENT, "\\n")
    \'\'\'
  fitness_test_template_args: ["system_prompt", "task_prompt", "reasoning_prompt", "question", "reference"]
  mutation_direct:
    \'\'\'
    {decoder_options}
      "{mutation_prompt} {task_prompt} SYSTEM_PROMPT: [SYSTEM_PROMPT] TASK_PROMPT: [TASK_PROMPT]"
    from {model_name_or_path}
    \'\'\'
  mutation_direct_args: ["mutation_prompt", "thinking_style", "task_description", "task_prompt"]
  hypermutation_first_order_direct:
    \'\'\'
    {decoder_options}
      "Improve this: {mutation_prompt} [MUTATED_TASK_PROMPT]"
    from {model_name_or_path}
    \'\'\'
  hypermutation_first_order_direct_args: ["mutation_prompt"]
}
'''

LLAMA_TASKS = {
    "arithmetic": {
        "task_description": "Add two one-digit numbers and answer with the sum.",
        "fitness_scorer": {"type": "ExactMatch"},
        "decoder_options": "sample(temperature=0.8, top_p=0.95)",
        "fitness_decoder_options": "argmax",
        "fixed_system_prompt": None,
    },
    "answer_quality": {
        "task_description": "Answer a general question helpfully and concisely.",
        "fitness_scorer": {"type": "AnswerQuality", "judge_model": "some-judge"},
        "decoder_options": "sample(temperature=0.8)",
        "fitness_decoder_options": "argmax",
        "fixed_system_prompt": "You are a friendly expert.",
    },
    "unlabelled": {  # no example of the suite carries gold_unlabelled
        "task_description": "Something else.",
        "fitness_scorer": {"type": "ExactMatch"},
        "decoder_options": "argmax",
        "fitness_decoder_options": "argmax",
        "fixed_system_prompt": None,
    },
}


def llama_suite() -> list[dict]:
    rows = [{"question": f"What is {a} plus {b}?", "reference": f"{a + b}", "gold_arithmetic": a + b}
            for a in range(5) for b in range(4)]
    rows += [{"question": q, "reference": r, "gold_answer_quality": r} for q, r in [
        ("How do I boil an egg?", "Put the egg in boiling water for about nine minutes, then cool it in cold water."),
        ("Why is the sky blue?", "Air scatters blue light from the sun more than red light, so the sky looks blue."),
        ("How can I sleep better?", "Keep a regular bedtime, avoid screens and caffeine late, keep the room dark."),
    ]]
    return rows


def write_llama_day_care(root: Path) -> tuple[Path, Path]:
    """The day care folder and its suite file, written under `root`."""
    folder = root / "llama_day_care"
    folder.mkdir(parents=True)
    (folder / "breeder.lmql").write_text(LLAMA_BREEDER_LMQL)
    (folder / "mutation_prompts.json").write_text(json.dumps(
        {"0": "Rewrite the instruction so a beginner could follow it.", "1": "Make the instruction shorter."}))
    (folder / "thinking_styles.json").write_text(json.dumps(
        {"0": "Let's think step by step.", "1": "How could I simplify the problem?"}))
    for name, spec in LLAMA_TASKS.items():
        (folder / name).mkdir()
        (folder / name / "task_description.json").write_text(json.dumps(spec, indent=2))
    suite_file = root / "fitness_test_suite.json"
    suite_file.write_text(json.dumps(llama_suite(), indent=1))
    return folder, suite_file


@pytest.fixture
def llama_day_care(tmp_path):
    """(folder, suite file) of a LLaMA Day Care day care written under tmp_path."""
    return write_llama_day_care(tmp_path)
