"""GenerationTuner as scikit-learn sees it, on the fake backend: searches, clone, params, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.errors import UsageError
from promptbreeder.tuning import GenerationTuner, prepare_dataset, whole_dataset_cv

QUESTIONS = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]]


def temperature_sensitive_backend() -> FakeBackend:
    """Answers right when greedy or sampled cool (< 0.5), wrong when hot: a model that writes salad when hot."""
    def respond(request):
        question = request.inputs["prompt"].rsplit("Q: ", 1)[-1]
        a, b = [int(w) for w in question.replace("?", "").split() if w.isdigit()]
        cool = request.decoder.method == "argmax" or request.decoder.temperature < 0.5
        return str(a + b) if cool else "banana"
    return FakeBackend(responder=respond)


def exact(y_true, y_pred):
    return float(np.mean([t["answer"] == p.strip() for t, p in zip(y_true, y_pred)]))


def preprocess(tokenizer, question):
    return f"Answer with the number.\nQ: {question}"


def data():
    return prepare_dataset(QUESTIONS, {"input_cols": ["question"], "eval_cols": ["answer"]})


def test_grid_search_finds_the_temperature_that_scores_best_and_every_candidate_reaches_the_backend():
    backend = temperature_sensitive_backend()
    X, y = data()
    tuner = GenerationTuner(backend=backend, scorer=exact, sample_preprocessor=preprocess, max_new_tokens=8)
    search = GridSearchCV(tuner, {"temperature": [1.2, 0.3, 0.9], "top_p": [1.0, 0.8]}, cv=whole_dataset_cv(len(X)))
    search.fit(X, y)
    assert search.best_params_["temperature"] == 0.3
    assert search.best_score_ == 1.0
    scores = dict(zip(map(lambda p: (p["temperature"], p["top_p"]), search.cv_results_["params"]),
                      search.cv_results_["mean_test_score"]))
    assert scores[(1.2, 1.0)] == scores[(0.9, 0.8)] == 0.0
    sent = {(r.decoder.temperature, r.decoder.top_p) for r in backend.requests}
    assert {(1.2, None), (0.3, 0.8), (0.9, 0.8), (0.3, None)} <= sent  # top_p=1.0 is "off": not sent
    assert all(r.inputs["answer_max_tokens"] == 9 and r.inputs["prompt"].startswith("Answer with") for r in backend.requests)
    assert search.best_estimator_.predict(X) == [q["answer"] for q in QUESTIONS]  # refit on the best settings


def test_randomized_search_and_greedy_by_default():
    backend = temperature_sensitive_backend()
    X, y = data()
    search = RandomizedSearchCV(GenerationTuner(backend=backend, scorer=exact, sample_preprocessor=preprocess),
                                {"temperature": [0.0, 1.5], "seed": [1, 2, 3]}, n_iter=6, random_state=0,
                                cv=whole_dataset_cv(len(X)))
    search.fit(X, y)
    assert search.best_params_["temperature"] == 0.0
    assert any(r.decoder.method == "argmax" for r in backend.requests)
    assert {r.seed for r in backend.requests} == {1, 2, 3}


# OptunaSearchCV is "experimental", and with one split it cannot report fold scores to its terminator
@pytest.mark.filterwarnings("ignore:OptunaSearchCV is experimental", "ignore:Failed to report cross validation",
                            "ignore:`optuna.terminator` module has been deprecated")
def test_optuna_search_cv_runs_on_it_unchanged():
    import optuna
    from optuna_integration import OptunaSearchCV

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = data()
    search = OptunaSearchCV(GenerationTuner(backend=temperature_sensitive_backend(), scorer=exact,
                                            sample_preprocessor=preprocess),
                            {"temperature": optuna.distributions.FloatDistribution(0.05, 2.0)}, n_trials=8,
                            cv=whole_dataset_cv(len(X)), random_state=0)
    search.fit(X, y)
    assert search.best_params_["temperature"] < 0.5
    assert search.best_score_ == 1.0


def test_clone_shares_the_model_and_callables_instead_of_copying_them():
    model, tokenizer = object(), object()
    tuner = GenerationTuner(model=model, tokenizer=tokenizer, scorer=exact, temperature=0.7, stop=["\n"])
    copy = clone(tuner)
    assert copy.model is model and copy.tokenizer is tokenizer and copy.scorer is exact
    assert copy.get_params(deep=False) == tuner.get_params(deep=False)


def test_set_params_and_a_bad_value_names_the_parameter_and_its_range():
    tuner = GenerationTuner(backend=FakeBackend(), scorer=exact)
    tuner.set_params(top_k=40, temperature=0.5)
    assert tuner.params.top_k == 40 and tuner.params.temperature == 0.5
    for name, value, expected in [("top_p", 1.5, "in (0, 1]"), ("temperature", -1, ">= 0"), ("num_beams", 0, ">= 1"),
                                  ("top_k", 2.5, "integer"), ("tfs", "high", "a number")]:
        with pytest.raises(UsageError, match=rf"{name}=.*expected .*{re.escape(expected)}"):
            GenerationTuner(backend=FakeBackend(), **{name: value}).fit()


def test_a_backend_refuses_what_it_cannot_apply_instead_of_ignoring_it():
    X, y = data()
    tuner = GenerationTuner(backend=FakeBackend(), scorer=exact, sample_preprocessor=preprocess, num_beams=4,
                            repetition_penalty=1.2)
    with pytest.raises(UsageError, match="cannot apply num_beams, repetition_penalty; it applies max_new_tokens, seed,"):
        tuner.fit(X, y).score(X, y)


def test_model_xor_backend_and_missing_scorer_are_usage_errors():
    with pytest.raises(UsageError, match="either model="):
        GenerationTuner().fit()
    with pytest.raises(UsageError, match="either model="):
        GenerationTuner(model=object(), tokenizer=object(), backend=FakeBackend()).fit()
    with pytest.raises(UsageError, match="needs scorer="):
        GenerationTuner(backend=FakeBackend()).fit().score(["a"], ["b"])


def test_examples_are_strings_one_column_dicts_or_go_through_the_preprocessor():
    backend = FakeBackend(responder=lambda r: r.inputs["prompt"].upper())
    tuner = GenerationTuner(backend=backend).fit()
    assert tuner.predict(["ab", "cd"]) == ["AB", "CD"]
    assert tuner.predict(np.array(["ab"])) == ["AB"]
    assert tuner.predict([{"text": "ef"}]) == ["EF"]
    with pytest.raises(UsageError, match="example 0 is a dict with 2 columns"):
        tuner.predict([{"a": "x", "b": "y"}])


def test_failed_queries_score_as_empty_answers_and_are_counted():
    def respond(request):
        if "2 plus 2" in request.inputs["prompt"]:
            raise RuntimeError("garbled")
        return "3"
    X, y = data()
    tuner = GenerationTuner(backend=FakeBackend(responder=respond), scorer=exact, sample_preprocessor=preprocess).fit()
    assert tuner.predict(X) == ["3", "3", "", "3"]
    assert tuner.generator_.failures == 1
    assert tuner.score(X, y) == 0.25


def test_stop_strings_cut_the_answer_and_callbacks_run_after_inference():
    calls = []
    tuner = GenerationTuner(backend=FakeBackend(responder=lambda r: "7\nQ: next"), stop=["\nQ:"],
                            callbacks_after_inference=[lambda: calls.append(1)]).fit()
    assert tuner.predict(["x", "y"]) == ["7", "7"]
    assert calls == [1]
    with pytest.raises(UsageError, match="stop="):
        GenerationTuner(backend=FakeBackend(), stop="\n").fit()


def test_prepare_dataset_names_a_missing_column():
    with pytest.raises(UsageError, match="row 1 has no column 'answer'; it has question"):
        prepare_dataset([{"question": "a", "answer": "b"}, {"question": "c"}],
                        {"input_cols": ["question"], "eval_cols": ["answer"]})
    with pytest.raises(UsageError, match="needs 'input_cols'"):
        prepare_dataset([], {"inputs": ["question"]})


def test_chat_sends_each_prompt_as_the_users_turn():
    backend = FakeBackend(responder=lambda r: "4")
    GenerationTuner(backend=backend, chat=True).fit().predict(["2+2?"])
    GenerationTuner(backend=backend).fit().predict(["2+2?"])
    chat, raw = backend.requests
    assert chat.query.startswith('"{:user}{prompt}{:assistant}[ANSWER]"') and raw.query.startswith('"{prompt}[ANSWER]"')
