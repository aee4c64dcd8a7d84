"""Text and code task folders (`"genome": "text"` / `"code"`): the shipped examples load (automl_digits runs
its candidates only in the sandbox and scores them with trusted task code; text_tagline grades with the LLM
rubric), every mistake in a task folder is one DayCareError line naming the file, the JSON path and the
expectation, and a text task with a Python evaluator runs end to end through `app.run` with a fake backend.

Sandbox runs cost about a second each, so only a few candidates are run.
"""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from promptbreeder import app
from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig, resolve_config
from promptbreeder.daycare import load_day_care, load_task_folder
from promptbreeder.genomes.text.task import TextTask
from promptbreeder.errors import DayCareError
from promptbreeder.genomes.registry import build_genome
from promptbreeder.genomes.text.genome import TextGenome

REPO = Path(__file__).resolve().parents[3]
DAY_CARE = REPO / "day_care"
TASK_FILE = "task_description.json"
DIGITS = "automl_digits"
TAGLINE = "text_tagline"

WORDS_EVALUATOR = textwrap.dedent("""
    def evaluate(text):
        n = len(text.split())
        return n, f"{n} words; more words score higher"
""")


def shipped(name: str) -> dict:
    return json.loads((DAY_CARE / name / TASK_FILE).read_text())


def write(folder: Path, data: dict) -> None:
    (folder / TASK_FILE).write_text(json.dumps(data, indent=2))


@pytest.fixture
def code_dir(tmp_path):
    """A copy of the shipped automl_digits task, with a 1 s time limit to keep failing candidates fast."""
    folder = tmp_path / DIGITS
    shutil.copytree(DAY_CARE / DIGITS, folder)
    write(folder, {**shipped(DIGITS), "limits": {"timeout_s": 1, "memory_mb": 1536}})
    return folder


@pytest.fixture
def text_dir(tmp_path):
    """A text task scored by a Python evaluator (word count)."""
    folder = tmp_path / "toy_text"
    folder.mkdir()
    (folder / "evaluate.py").write_text(WORDS_EVALUATOR)
    write(folder, {"task_description": "Write a slogan for a bicycle shop.", "genome": "text",
                   "question": "Longer is better.", "x0": "ride", "evaluator": "evaluate.py"})
    return folder


# -- the shipped code task ---------------------------------------------------------------------------


def test_the_shipped_automl_task_loads_as_a_code_task():
    task = load_task_folder(DAY_CARE / DIGITS)
    assert isinstance(task, TextTask)
    assert (task.name, task.dir, task.genome, task.entry) == (DIGITS, DAY_CARE / DIGITS, "code", "train_and_predict")
    assert task.limits == {"timeout_s": 60, "memory_mb": 1536}
    assert "def train_and_predict(data)" in task.x0 and task.x0 == (DAY_CARE / DIGITS / "x0.py").read_text()
    assert callable(task.evaluator.make_args) and callable(task.evaluator.score)
    assert task.rubric_spec is None
    assert task.decoder == DecoderOptions.parse("sample(temperature=0.7)")
    assert (task.max_solution_tokens, task.history_window) == (384, 4)
    assert "train_and_predict" in task.question


def test_the_candidate_never_gets_the_test_labels():
    task = load_task_folder(DAY_CARE / DIGITS)
    args = task.evaluator.make_args()
    assert set(args) == {"X_train", "y_train", "X_test"}, "no y_test: the candidate cannot read the labels"
    assert len(args["X_test"]) == 450 and len(args["X_train"]) == len(args["y_train"]) == 1797 - 450
    y_test = [int(v) for v in task.evaluator._split()[3]]
    assert all(value != y_test for value in args.values())
    json.dumps(args)  # what the sandbox hands over is plain JSON
    # a candidate echoing the training labels back is scored on the held-out labels, not trusted
    score, feedback = task.evaluator.score(args["y_train"][:450])
    assert score < 0.3 and "held-out accuracy" in feedback


def test_the_shipped_x0_runs_in_the_sandbox_and_gets_a_held_out_accuracy():
    task = load_task_folder(DAY_CARE / DIGITS)
    score, feedback = task.evaluate_function()(task.x0)
    assert isinstance(score, float) and 0.3 < score < 0.95
    assert "held-out accuracy" in feedback and f"{score:.3f}" in feedback


@pytest.mark.parametrize("body, failure, words", [
    ("return [0]", None, "expected a list of 450 predicted labels, got list of length 1"),
    ("raise RuntimeError('no model today')", "crash", "RuntimeError: no model today"),
    ("while True:\n        pass", "timeout", "did not finish within 1 s"),
])
def test_a_failing_candidate_scores_zero_with_the_failure_as_feedback(code_dir, body, failure, words):
    task = load_task_folder(code_dir)
    source = f"def train_and_predict(data):\n    {body}\n"
    score, feedback = task.evaluate_function()(source)
    assert score == 0.0
    assert words in feedback
    if failure is not None:
        assert feedback.startswith(f"{failure}: ")


def test_a_value_that_breaks_the_scorer_is_the_candidates_failure(code_dir):
    task = load_task_folder(code_dir)

    class Broken:
        make_args = staticmethod(lambda: {})

        @staticmethod
        def score(returned):
            raise KeyError("labels")

    task.evaluator = Broken()
    score, feedback = task.evaluate_function()("def train_and_predict(data):\n    return 1\n")
    assert score == 0.0 and feedback.startswith("the returned value could not be scored: KeyError")


# -- the shipped text task ---------------------------------------------------------------------------


def test_the_shipped_tagline_task_loads_with_a_rubric():
    task = load_task_folder(DAY_CARE / TAGLINE)
    assert isinstance(task, TextTask)
    assert (task.genome, task.x0, task.evaluator) == ("text", "A bottle for water.", None)
    assert task.rubric_spec["type"] == "llm_rubric" and task.rubric_spec["scale"] == 10
    assert task.rubric_spec["rubric"].startswith("Give 10 for one catchy sentence")
    assert task.decoder == DecoderOptions.parse("sample(temperature=0.8)")
    assert (task.max_solution_tokens, task.history_window) == (48, 5)


def test_the_tagline_is_graded_by_the_rubric_through_the_runs_backend():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(TAGLINE)

    def grader(request):
        assert request.name == "rubric_score", request.name
        return {"SCORE": "7"}

    backend = FakeBackend(responder=grader)
    genome = build_genome(RunConfig(task=TAGLINE), day_care, task, backend)
    assert isinstance(genome, TextGenome) and genome.kind == "text" and genome.fence == "text"
    assert (genome.x0, genome.question, genome.history_window, genome.max_solution_tokens) == (
        task.x0, task.question, 5, 48)
    score, feedback = genome.evaluate("Refill it. Reuse it. Love it.")
    assert score == pytest.approx(0.7)
    assert feedback.startswith("the grader gave 0.70 of 1 for this rubric: Give 10 for one catchy sentence")
    [request] = backend.requests
    assert request.inputs["question"] == task.question and request.inputs["answer"] == "Refill it. Reuse it. Love it."
    assert "from 0 (worst) to 10 (best)" in request.inputs["rubric"]
    # the same through DayCare.build_scorer_spec directly
    evaluate = task.evaluate_function(backend, lambda t, b: day_care.build_scorer_spec(t.rubric_spec, t.name, b))
    assert evaluate("Drink, refill, repeat.")[0] == pytest.approx(0.7)


def test_a_rubric_reply_that_is_not_a_grade_scores_zero():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(TAGLINE)
    backend = FakeBackend(responder=lambda request: {"SCORE": "great"})
    evaluate = task.evaluate_function(backend, lambda t, b: day_care.build_scorer_spec(t.rubric_spec, t.name, b))
    assert evaluate("Refill.")[0] == 0.0


def test_a_text_task_with_a_python_evaluator(text_dir):
    task = load_task_folder(text_dir)
    assert (task.genome, task.x0, task.rubric_spec, task.history_window, task.max_solution_tokens) == (
        "text", "ride", None, 5, 512)
    assert task.evaluate_function()("ride on") == (2.0, "2 words; more words score higher")


def test_a_stop_score_in_the_folder_reaches_the_genome(text_dir):
    edit(text_dir, stop_score=3)
    task = load_task_folder(text_dir)
    assert task.stop_score == 3
    genome = build_genome(RunConfig(task=task.name), None, task, FakeBackend())
    assert genome.stop_score == 3 and genome.target_reached() is None


def test_x0_can_come_from_a_file(text_dir):
    (text_dir / "start.txt").write_text("ride on\n")
    data = json.loads((text_dir / TASK_FILE).read_text())
    del data["x0"]
    write(text_dir, {**data, "x0_file": "start.txt"})
    assert load_task_folder(text_dir).x0 == "ride on\n"


# -- malformed task folders --------------------------------------------------------------------------


def expect_error(folder: Path, path: str, words: str) -> DayCareError:
    with pytest.raises(DayCareError) as info:
        load_task_folder(folder)
    error = info.value
    assert "\n" not in str(error), "one line"
    assert error.file == str(folder / TASK_FILE)
    assert error.path == path, str(error)
    assert words in error.expected, str(error)
    assert str(error) == f"{folder / TASK_FILE}: at {path}: {error.expected}"
    return error


def edit(folder: Path, drop=(), **changes) -> None:
    data = json.loads((folder / TASK_FILE).read_text())
    for key in drop:
        data.pop(key, None)
    write(folder, {**data, **changes})


@pytest.mark.parametrize("drop, changes, path, words", [
    ((), {"x0_file": "x0.txt"}, "$", "expected exactly one of x0 and x0_file"),
    (("x0",), {}, "$", "expected exactly one of x0 and x0_file"),
    (("x0",), {"x0_file": "missing.txt"}, "$.x0_file", "expected a readable UTF-8 file in the task folder"),
    ((), {"evaluator": "nope.py"}, "$.evaluator", "expected an existing Python file in the task folder"),
    ((), {"evaluator": "evaluate.txt"}, "$.evaluator", "expected a Python file in the task folder"),
    (("evaluator",), {}, "$", "expected a text task to have exactly one of evaluator and fitness_scorer"),
    ((), {"fitness_scorer": {"type": "llm_rubric", "rubric": "Longer is better.", "scale": 10}}, "$",
     "expected a text task to have exactly one of evaluator and fitness_scorer"),
    ((), {"fitness_scorer": {"type": "exact_match"}}, "$.fitness_scorer.type", "llm_rubric"),
    ((), {"x1": "typo"}, "$.x1", "got unknown key 'x1'"),
    (("question",), {}, "$.question", "expected required field 'question'"),
    ((), {"question": "  "}, "$.question", "what to improve"),
    ((), {"decoder_options": "greedy"}, "$.decoder_options", "expected a valid LMQL decoder"),
    ((), {"history_window": 0}, "$.history_window", "expected a value >= 1"),
    ((), {"max_solution_tokens": 8}, "$.max_solution_tokens", "expected a value >= 16"),
    ((), {"stop_score": "high"}, "$.stop_score", "expected a number"),
])
def test_a_broken_text_task_is_one_day_care_error_line(text_dir, drop, changes, path, words):
    edit(text_dir, drop, **changes)
    expect_error(text_dir, path, words)


@pytest.mark.parametrize("source, words", [
    ("def score(text):\n    return 1, 'ok'\n", "expected evaluate.py to define evaluate"),
    ("raise ImportError('no such thing')\n", "expected evaluate.py to import cleanly (ImportError: no such thing)"),
    ("evaluate = 3\n", "to define evaluate"),
])
def test_a_text_evaluator_must_define_evaluate_and_import(text_dir, source, words):
    (text_dir / "evaluate.py").write_text(source)
    expect_error(text_dir, "$.evaluator", words)


@pytest.mark.parametrize("source, words", [
    ("def evaluate(text):\n    return 0, ''\n", "expected evaluate.py to define make_args, score"),
    ("def make_args():\n    return {}\n", "expected evaluate.py to define score"),
])
def test_a_code_evaluator_must_define_make_args_and_score(code_dir, source, words):
    (code_dir / "evaluate.py").write_text(source)
    expect_error(code_dir, "$.evaluator", words)


@pytest.mark.parametrize("drop, changes, path, words", [
    (("entry",), {}, "$", "expected a code task to name its evaluator and the candidate's entry function"),
    (("evaluator",), {}, "$", "expected a code task to name its evaluator and the candidate's entry function"),
    ((), {"entry": "train-and-predict"}, "$.entry", "the function the candidate defines"),
    ((), {"evaluator": "missing.py"}, "$.evaluator", "expected an existing Python file in the task folder"),
    ((), {"limits": {"timeout_s": 0}}, "$.limits.timeout_s", "expected a value > 0"),
    ((), {"limits": {"timeout_s": "fast"}}, "$.limits.timeout_s", "expected a number"),
    ((), {"limits": {"memory_mb": 8}}, "$.limits.memory_mb", "expected a value >= 32"),
    ((), {"limits": {"memory_mb": 512.5}}, "$.limits.memory_mb", "expected an integer"),
    ((), {"limits": {"cpu": 2}}, "$.limits.cpu", "got unknown key 'cpu'"),
    ((), {"limits": {"allow_hosts": "127.0.0.1"}}, "$.limits.allow_hosts", "expected a list"),
    ((), {"genome": "image"}, None, None),
    (("x0_file",), {}, "$", "expected exactly one of x0 and x0_file"),
])
def test_a_broken_code_task_is_one_day_care_error_line(code_dir, drop, changes, path, words):
    edit(code_dir, drop, **changes)
    if path is None:  # not a text/code genome: the folder is read as a prompt task, still one error line
        with pytest.raises(DayCareError) as info:
            load_task_folder(code_dir)
        assert "\n" not in str(info.value)
        return
    expect_error(code_dir, path, words)


def test_limits_that_would_open_the_network_are_rejected_when_the_task_loads(code_dir):
    edit(code_dir, limits={"timeout_s": 1, "allow_hosts": ["example.com"]})
    error = expect_error(code_dir, "$.limits.allow_hosts", "loopback")
    assert error is not None


@pytest.mark.parametrize("spec, path", [
    ({"type": "llm_rubric"}, "$.fitness_scorer.rubric"),
    ({"type": "llm_rubric", "rubric": "Be catchy.", "scale": 0}, "$.fitness_scorer.scale"),
])
def test_a_rubric_spec_is_checked_when_the_task_loads(text_dir, spec, path):
    edit(text_dir, drop=("evaluator",), fitness_scorer=spec)
    expect_error(text_dir, path, "")


def test_a_day_care_validates_a_text_task_as_one_candidate(tmp_path, text_dir):
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, tmp_path / name)
    assert load_day_care(tmp_path).validate() == {"toy_text": 1}


# -- a whole run through the app ---------------------------------------------------------------------


def test_a_text_task_runs_end_to_end_through_the_app(tmp_path, text_dir, monkeypatch, dashboard_rows):
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, tmp_path / name)

    def improve(request):
        assert request.name == "optimize_step", request.name
        return {"REASONING": " one more word\n", "SOLUTION": request.inputs["current"] + f" w{request.seed % 97}\n"}

    backend = FakeBackend(responder=improve)
    monkeypatch.setattr(app, "create_backend", lambda config, spec=None: backend)
    config = resolve_config({"task": "toy_text", "day_care_dir": str(tmp_path), "population_size": 2,
                             "evolution_generations": 2, "use_wandb": True}, None)
    out = io.StringIO()
    assert app.run(config, out=out) == 0
    text = out.getvalue()
    assert "run 1 of toy_text" in text and "2 units, 2 generations" in text
    assert "candidates evaluated; best" in text
    run_dir = text_dir / "runs" / "run_1"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["genome"] == "text" and report["generation"] == 2
    assert report["best"]["score"] >= 2.0 and report["best"]["text"].startswith("ride w")
    assert report["best"]["reasoning"] == "one more word"
    assert f"{report['evaluations']} candidates evaluated; best {report['best']['score']:.4f}" in text
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir()) == [
        "step_000000.json", "step_000001.json", "step_000002.json"]
    assert {r.name for r in backend.requests} == {"optimize_step"}
    # the dashboard gets the best candidates, best first
    assert dashboard_rows[0] == {"name": f"unit {report['best']['unit']}", "prompt": report["best"]["text"],
                                 "score": report["best"]["score"]}
    assert [row["score"] for row in dashboard_rows] == sorted((e["score"] for e in report["top"]), reverse=True)
    assert 1 <= len(dashboard_rows) <= 3


def test_the_paperclip_factory_runs_its_own_server_and_scores_from_it():
    from promptbreeder.daycare.loader import load_day_care

    task = load_day_care(DAY_CARE).task("paperclip_factory")
    evaluate = task.evaluate_function()
    assert evaluate(task.x0) == (350.0, "ended with 350.00 money after selling 5000 clips (price 0.25, 0 clips and"
                                        " 0 wire unsold)")
    # a candidate that claims a fortune but never runs the factory is scored from the server's record
    score, feedback = evaluate("def run(info):\n    return {'money': 10**9}")
    assert score == 0.0 and "stopped at tick 0" in feedback
    # only 127.0.0.1 is reachable
    score, feedback = evaluate("def run(info):\n    import urllib.request\n"
                               "    return urllib.request.urlopen('http://example.com', timeout=2).read()")
    assert score == 0.0 and feedback.startswith("network:")


# -- llm_optimize's examples: code golf and the palindrome -----------------------------------------------


def test_code_golf_scores_a_correct_program_by_its_length_and_a_wrong_one_zero():
    task = load_day_care(DAY_CARE).task("code_golf")
    evaluate = task.evaluate_function()
    score, feedback = evaluate(task.x0)
    assert score == 1000 - len(task.x0.strip()) and feedback.startswith("correct,")
    short = "def fizzbuzz(n):return['Fizz'*(i%3<1)+'Buzz'*(i%5<1)or str(i)for i in range(1,n+1)]"
    assert evaluate(short) == (1000 - len(short), f"correct, {len(short)} characters; shorter is better")
    score, feedback = evaluate("def fizzbuzz(n):return[str(i)for i in range(1,n+1)]")
    assert score == 0 and feedback.startswith("wrong at 3: got '3', expected 'Fizz'")
    assert evaluate("def fizzbuzz(n):\n    return 1 / 0")[0] == 0
    assert task.stop_score == 920


def test_the_palindrome_task_rewards_mirroring_length_and_topic():
    evaluate = load_day_care(DAY_CARE).task("text_palindrome").evaluate_function()
    assert evaluate("A man, a plan, a canal: Panama")[0] == 8.0  # mirrors, 7 words, off topic
    score, feedback = evaluate("Machine learning (ML) is a field")
    assert score < 6 and "the mirror breaks at letter 1" in feedback
    assert evaluate("Ai, data, at ad, ia") == (10.0, "100% of the letters mirror")
