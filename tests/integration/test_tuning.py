"""The generation tuner on the real embedded model: GridSearchCV through the shipped example, and a backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from sklearn.model_selection import GridSearchCV

from promptbreeder.tuning import GenerationTuner, whole_dataset_cv
from promptbreeder.tuning.tasks import task_data

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def load_example():
    spec = importlib.util.spec_from_file_location("tune_generation", ROOT / "examples" / "tune_generation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_search_on_a_shipped_task_ranks_greedy_above_word_salad(capsys):
    search = load_example().main(["--examples", "16"], grid={"temperature": [0.0, 1.8], "max_new_tokens": [12]})
    scores = {p["temperature"]: s for p, s in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"])}
    # SmolLM2-135M answers about half of these greedily and writes salad at a high temperature
    assert scores[0.0] >= 0.3 and scores[1.8] < scores[0.0]
    assert search.best_params_["temperature"] == 0.0
    printed = capsys.readouterr().out
    assert "16 examples, 2 candidates" in printed


def test_the_tuner_over_the_lmql_backend_answers_and_scores_with_the_task_scorer(real_backend):
    X, y, metric, task = task_data(ROOT / "day_care", "arithmetic_1_digit_addition", 8)

    def prompt(tokenizer, input, **_):
        return f"{task.seed_prompts[0]}\n{input}"

    tuner = GenerationTuner(backend=real_backend, scorer=metric, sample_preprocessor=prompt, chat=True,
                            stop=["\n"], max_new_tokens=12)
    search = GridSearchCV(tuner, {"temperature": [0.0, 0.7]}, cv=whole_dataset_cv(len(X)), refit=False)
    search.fit(X, y)
    answers = tuner.fit().predict(X)
    assert sum(any(ch.isdigit() for ch in a) for a in answers) >= 6, answers
    assert search.cv_results_["mean_test_score"][0] == pytest.approx(metric(y, answers))
    assert json.dumps(search.cv_results_["params"]) == json.dumps([{"temperature": 0.0}, {"temperature": 0.7}])
