"""`promptbreeder.optimize` without a model: the single chain (population 1), the GA population, stopping at
`stop_score`, the history with every step's reasoning, copies that are never scored twice, argument checks,
the run store kept in `run_dir`, and the code fence.

The fake backend improves a candidate by appending a word, and `f` counts words, so every successful step is
an improvement of exactly one.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest

import promptbreeder
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.errors import UsageError

TASK = "Write a slogan for a bicycle shop."
QUESTION = "Longer is better."


class WordCount:
    """f(x) -> (number of words, feedback), counting its calls."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, text: str):
        self.calls.append(text)
        n = len(text.split())
        return float(n), f"{n} words"


def appender(request):
    """Appends a word and numbers the reasoning by the length it reaches."""
    assert request.name == "optimize_step", request.name
    n = len(request.inputs["current"].split()) + 1
    return {"REASONING": f" step to {n} words\n", "SOLUTION": request.inputs["current"] + f" w{n}\n"}


def run(f=None, responder=appender, **kwargs):
    backend = FakeBackend(responder=responder)
    f = f if f is not None else WordCount()
    result = promptbreeder.optimize(TASK, QUESTION, f, kwargs.pop("x0", "go"), backend=backend, **kwargs)
    return result, backend, f


def test_optimize_is_a_function_also_after_importing_the_optimizer_module():
    assert inspect.isfunction(promptbreeder.optimize)
    module = importlib.import_module("promptbreeder.optimizer")
    assert inspect.isfunction(promptbreeder.optimize), "the submodule must not shadow the function"
    assert inspect.isfunction(module.optimize)
    assert promptbreeder.optimizer is module


def test_the_chain_improves_step_by_step_and_keeps_the_history():
    result, backend, f = run(max_steps=4)
    assert [e["score"] for e in result.history] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(result.history) == 4 + 1, "x0 and one candidate per step"
    assert (result.best, result.best_score) == ("go w2 w3 w4 w5", 5.0)
    assert (result.steps, result.stopped) == (4, "max_steps")
    assert f.calls == [e["text"] for e in result.history]
    assert [r.name for r in backend.requests] == ["optimize_step"] * 4
    assert [r.inputs["current"] for r in backend.requests] == [e["text"] for e in result.history[:-1]], \
        "each step improves the best candidate so far"
    assert result.history[0]["reasoning"] == ""
    for entry in result.history[1:]:
        assert entry["reasoning"] == f"step to {int(entry['score'])} words"
    assert {"text", "score", "feedback", "unit", "reasoning"} <= set(result.history[0])
    assert result.history[-1]["feedback"] == "5 words"


def test_the_chain_shows_the_llm_the_feedback_and_the_attempts_so_far():
    result, backend, _ = run(max_steps=2, history_window=3, max_solution_tokens=40)
    second = backend.requests[1].inputs
    assert second["feedback"] == "2 words" and second["fence"] == "text"
    assert second["max_solution_tokens"] == 40
    assert "--- score 1.0000; feedback: 1 words" in second["history"]
    assert "--- score 2.0000; feedback: 2 words" in second["history"]


def test_the_chain_stops_once_the_stop_score_is_reached():
    result, backend, f = run(max_steps=10, stop_score=3)
    assert (result.stopped, result.steps) == ("stop_score", 2)
    assert [e["score"] for e in result.history] == [1.0, 2.0, 3.0]
    assert result.best_score == 3.0 and len(backend.requests) == 2 and len(f.calls) == 3


def test_a_stop_score_reached_by_the_last_step_counts_as_stopping():
    result, _, _ = run(max_steps=2, stop_score=3)
    assert (result.stopped, result.steps, result.best_score) == ("stop_score", 2, 3.0)


def test_an_x0_that_already_reaches_the_stop_score_takes_no_step():
    result, backend, f = run(max_steps=5, stop_score=1)
    assert (result.stopped, result.steps, result.best) == ("stop_score", 0, "go")
    assert backend.requests == [] and f.calls == ["go"]


def test_no_steps_scores_x0_only():
    result, backend, _ = run(max_steps=0)
    assert (result.best, result.best_score, result.steps, result.stopped) == ("go", 1.0, 0, "max_steps")
    assert backend.requests == []


def test_a_model_that_never_gives_a_solution_keeps_x0_and_scores_it_once():
    result, backend, f = run(responder=lambda request: {"REASONING": " no idea\n", "SOLUTION": "\n"}, max_steps=3)
    assert (result.best, result.best_score, result.steps, result.stopped) == ("go", 1.0, 3, "max_steps")
    assert f.calls == ["go"], "copies are not evaluated again"
    assert len(result.history) == 1
    assert len(backend.requests) == 3 * 2, "each step asks, then asks once more"


def test_a_worse_candidate_does_not_replace_the_best():
    def f(text):
        return (-len(text.split()) if "bad" in text else len(text.split())), "ok"

    replies = iter(["go bad bad", "go better", "go better yet"])
    result, backend, _ = run(f=f, responder=lambda request: {"REASONING": " r\n", "SOLUTION": next(replies)},
                             max_steps=3)
    assert [r.inputs["current"] for r in backend.requests] == ["go", "go", "go better"]
    assert (result.best, result.best_score) == ("go better yet", 3.0)


def test_a_code_optimisation_fences_python():
    result, backend, _ = run(kind="code", max_steps=1, x0="def f(): return 1")
    assert backend.requests[0].inputs["fence"] == "python"
    _, text_backend, _ = run(max_steps=1)
    assert text_backend.requests[0].inputs["fence"] == "text"


def test_a_population_runs_through_the_ga(tmp_path):
    result, backend, f = run(population=4, max_steps=3, seed=2, run_dir=tmp_path / "keep")
    assert (result.steps, result.stopped) == (3, "max_steps")
    assert backend.requests[0].inputs["current"] == "go"
    assert len(result.history) >= 4 and result.history[0]["text"] == "go"
    assert result.best_score == max(e["score"] for e in result.history) > 2.0
    assert f.calls == [e["text"] for e in result.history] and len(set(f.calls)) == len(f.calls)
    assert all(e["reasoning"] for e in result.history[1:]), "every bred candidate keeps its reasoning"
    runs = tmp_path / "keep"
    assert [p.name for p in runs.iterdir()] == ["run_1"]
    assert sorted(p.name for p in (runs / "run_1" / "snapshots").iterdir()) == [
        f"step_{k:06d}.json" for k in range(4)]


def test_a_population_run_without_run_dir_leaves_no_folder(tmp_path, monkeypatch):
    import tempfile

    folder = tmp_path / "scratch"

    def mkdtemp(*args, **kwargs):
        folder.mkdir()
        return str(folder)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    result, _, _ = run(population=2, max_steps=1)
    assert result.steps == 1 and not folder.exists()


def test_a_population_honours_the_stop_score():
    result, _, _ = run(population=4, max_steps=20, stop_score=4, seed=2)
    assert result.stopped == "stop_score" and 0 < result.steps < 20
    assert result.best_score >= 4.0
    reference, _, _ = run(population=4, max_steps=result.steps, seed=2)
    assert max(e["score"] for e in reference.history) >= 4.0
    shorter, _, _ = run(population=4, max_steps=result.steps - 1, seed=2)
    assert max(e["score"] for e in shorter.history) < 4.0, "it stopped at the first step reaching the score"


def test_a_population_that_starts_at_the_stop_score_takes_no_step():
    result, backend, _ = run(population=4, max_steps=5, stop_score=2)
    assert (result.stopped, result.steps) == ("stop_score", 0)
    assert len(backend.requests) == 3, "only the creation of the population"


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "image"}, "kind must be 'text' or 'code'"),
    ({"population": 0}, "population >= 1"),
    ({"max_steps": -1}, "max_steps must be >= 0"),
])
def test_bad_arguments_are_usage_errors(kwargs, match):
    backend = FakeBackend(responder=appender)
    f = WordCount()
    with pytest.raises(UsageError, match=match):
        promptbreeder.optimize(TASK, QUESTION, f, "go", backend=backend, **kwargs)
    assert backend.requests == [] and f.calls == []


@pytest.mark.parametrize("kwargs", [{"history_window": 0}, {"max_solution_tokens": 0}])
def test_a_window_or_solution_budget_of_nothing_is_a_usage_error(kwargs):
    backend = FakeBackend(responder=appender)
    with pytest.raises(UsageError):
        promptbreeder.optimize(TASK, QUESTION, WordCount(), "go", backend=backend, max_steps=1, **kwargs)


def test_a_given_backend_is_not_closed(tmp_path):
    backend = FakeBackend(responder=appender)
    promptbreeder.optimize(TASK, QUESTION, WordCount(), "go", backend=backend, max_steps=1)
    promptbreeder.optimize(TASK, QUESTION, WordCount(), "go", backend=backend, max_steps=1, population=2,
                           run_dir=tmp_path)
    assert len(backend.requests) >= 2 and backend.usage.calls == len(backend.requests)
    assert Path(tmp_path / "run_1" / "snapshots").is_dir()


# -- the embedded model as the default backend (replaced by a fake: no model is loaded) ---------------


@pytest.fixture
def default_backend(monkeypatch):
    """Stands in for the embedded model: `optimize` without `backend` builds (and must close) this one."""
    made: list[FakeBackend] = []

    class Local(FakeBackend):
        def __init__(self, model_dir):
            super().__init__(responder=appender)
            self.model_dir, self.closed = model_dir, False
            made.append(self)

        def close(self):
            self.closed = True
            super().close()

    import promptbreeder.backends as backends
    import promptbreeder.config as config_module

    monkeypatch.setattr(backends, "create_backend", lambda config, spec: Local(spec.local_dir()))
    monkeypatch.setattr(config_module, "resolve_model",
                        lambda name: SimpleNamespace(kind="local", local_dir=lambda: f"/models/{name}"))
    return made


@pytest.mark.parametrize("population", [1, 2])
def test_the_default_backend_is_the_named_model_and_is_closed_at_the_end(default_backend, population):
    result = promptbreeder.optimize(TASK, QUESTION, WordCount(), "go", max_steps=1, population=population,
                                    model="tiny")
    [backend] = default_backend
    assert backend.model_dir == "/models/tiny" and backend.closed and backend.requests
    assert result.best_score >= 2.0


def test_the_default_backend_is_closed_when_the_run_is_interrupted(default_backend):
    def broken(text):
        raise KeyboardInterrupt  # an exception from f fails the candidate; an interrupt stops the run

    with pytest.raises(KeyboardInterrupt):
        promptbreeder.optimize(TASK, QUESTION, broken, "go", max_steps=1)
    assert [b.closed for b in default_backend] == [True]


def test_a_bad_decoder_is_refused_without_leaving_a_model_open(default_backend):
    with pytest.raises(UsageError, match="decoder"):
        promptbreeder.optimize(TASK, QUESTION, WordCount(), "go", decoder="greedy(speed=11)")
    assert all(b.closed for b in default_backend), "a model loaded for nothing must at least be closed"


def test_an_f_that_raises_on_a_candidate_fails_that_candidate_and_the_search_goes_on():
    counter = WordCount()

    def f(text):
        if len(counter.calls) == 2:
            counter.calls.append(text)
            raise KeyError("third call")
        return counter(text)

    def seeded(request):
        return {"REASONING": " more\n", "SOLUTION": request.inputs["current"] + f" s{request.seed % 1000}\n"}

    result, backend, _ = run(f=f, responder=seeded, max_steps=4)
    assert [e["feedback"] for e in result.history if e["score"] == float("-inf")] == [
        "the evaluator raised KeyError: 'third call'"]
    assert len(result.history) == 5 and len(backend.requests) == 4
    # the failed step does not become the chain's head: the step after it improves the best
    assert [len(e["text"].split()) for e in result.history] == [1, 2, 3, 3, 4]
    assert result.best_score == 4.0
