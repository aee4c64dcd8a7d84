"""Bayesmark-style sklearn objectives: every model x dataset evaluates finitely, deterministically, in range."""

from __future__ import annotations

import math
import random

import pytest

from promptbreeder.genomes.hpo.objectives import (
    DATASETS,
    MODELS,
    R2_FLOOR,
    ObjectiveError,
    SklearnObjective,
    default_space,
    objective_from_spec,
)
from promptbreeder.genomes.hpo.regret import best_so_far
from promptbreeder.genomes.hpo.space import SearchSpace

PAIRS = [(m, d) for m in MODELS for d in DATASETS]


@pytest.mark.parametrize("model, dataset", PAIRS)
def test_every_pair_has_a_valid_space_and_a_deterministic_finite_score(model, dataset):
    space = SearchSpace.from_spec(default_space(model, dataset))
    config = space.sample(random.Random(f"{model}/{dataset}"))
    objective = SklearnObjective(model, dataset, cv=2, seed=1)
    score = objective(config)
    assert math.isfinite(score)
    assert objective.floor <= score <= 1.0
    assert objective(dict(config)) == score  # deterministic for (config, seed)


def test_metric_and_floor():
    assert SklearnObjective("svm", "wine").metric == "accuracy"
    assert SklearnObjective("svm", "wine").floor == 0.0
    assert SklearnObjective("svm", "diabetes").metric == "r2"
    assert SklearnObjective("svm", "diabetes").floor == R2_FLOOR == -1.0


def test_regression_variants_differ():
    assert "epsilon" in default_space("svm", "diabetes") and "epsilon" not in default_space("svm", "digits")
    assert default_space("random_forest", "digits")["max_depth"] == {"type": "int", "low": 1, "high": 15}


def test_good_configs_score_well():
    # A sensible SVM/RF config should clearly beat chance, which shows scores measure what they claim.
    assert SklearnObjective("svm", "digits")({"C": 10.0, "gamma": 1e-3, "tol": 1e-3}) > 0.9
    rf = {"n_estimators": 30, "max_depth": 10, "min_samples_split": 0.01, "min_samples_leaf": 0.01,
          "min_weight_fraction_leaf": 0.01, "max_features": 0.5}
    assert SklearnObjective("random_forest", "breast_cancer")(rf) > 0.9
    assert SklearnObjective("random_forest", "diabetes")(rf) > 0.3


@pytest.mark.parametrize(
    "model, dataset, config",
    [
        ("decision_tree", "iris", {"max_depth": -3}),  # sklearn rejects it
        ("decision_tree", "iris", {"max_depth": 3.5}),  # float for an int parameter
        ("svm", "wine", {"C": 1.0, "no_such_parameter": 1}),  # constructor TypeError
        ("mlp", "diabetes", {"alpha": "big"}),
        ("adaboost", "diabetes", {"learning_rate": -1.0}),
    ],
)
def test_failing_config_scores_the_floor(model, dataset, config):
    objective = SklearnObjective(model, dataset, cv=2)
    assert objective(config) == objective.floor


def test_r2_is_clipped_at_the_floor():
    # A huge learning rate makes the MLP regressor diverge (R^2 far below -1 before clipping).
    wild = {"learning_rate_init": 10.0, "alpha": 1e-5, "hidden_layer_sizes": 50, "batch_size": 32, "tol": 1e-5}
    assert SklearnObjective("mlp", "diabetes", cv=2)(wild) == R2_FLOOR


def test_unknown_names_raise():
    with pytest.raises(ObjectiveError, match="available: random_forest, decision_tree"):
        SklearnObjective("xgboost", "digits")
    with pytest.raises(ObjectiveError, match="unknown dataset 'mnist'"):
        default_space("svm", "mnist")
    with pytest.raises(ObjectiveError, match="cv"):
        SklearnObjective("svm", "iris", cv=1)


def test_describe_is_one_sentence_naming_task_and_metric():
    text = SklearnObjective("random_forest", "digits", cv=3).describe()
    assert "\n" not in text and text.endswith(".")
    assert "3-fold" in text and "accuracy" in text and "random forest" in text and "digits" in text
    assert "10 classes" in text
    assert "R^2" in SklearnObjective("mlp", "diabetes").describe()


def test_objective_from_spec():
    objective = objective_from_spec({"type": "sklearn", "model": "svm", "dataset": "iris", "cv": 2, "seed": 4})
    assert isinstance(objective, SklearnObjective) and (objective.cv, objective.seed) == (2, 4)
    assert objective_from_spec({"type": "python", "function": "promptbreeder.genomes.hpo.regret:best_so_far"}) is best_so_far


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"type": "sklearn", "model": "svm"}, "'dataset'"),
        ({"type": "sklearn", "model": "svm", "dataset": "iris", "folds": 3}, "unknown key 'folds'"),
        ({"type": "sklearn", "model": "knn", "dataset": "iris"}, "available: random_forest"),
        ({"type": "torch"}, "'sklearn' or 'python'"),
        ({"type": "python", "function": "no_such_module_xyz:f"}, "cannot import module 'no_such_module_xyz'"),
        ({"type": "python", "function": "promptbreeder.genomes.hpo.regret:nope"}, "best_so_far, bootstrap_ci"),
        ({"type": "python", "function": "promptbreeder.genomes.hpo.regret"}, "module:function"),
        ("sklearn", "an object"),
    ],
)
def test_objective_from_spec_errors(spec, words):
    with pytest.raises(ObjectiveError) as info:
        objective_from_spec(spec)
    assert words in str(info.value)
