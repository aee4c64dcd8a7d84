"""HPO task folders (`"genome": "config"`): the shipped Bayesmark-style tasks load as `ConfigTask`, and every
mistake in a copied task folder is one DayCareError line naming the file, the JSON path and the expectation.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.daycare import load_day_care, load_task_folder
from promptbreeder.genomes.hpo.task import ConfigTask
from promptbreeder.errors import DayCareError
from promptbreeder.genomes.hpo.genome import ConfigOptions
from promptbreeder.genomes.hpo.objectives import DATASETS, MODELS, SklearnObjective, default_space
from promptbreeder.genomes.hpo.space import SearchSpace

REPO = Path(__file__).resolve().parents[3]
DAY_CARE = REPO / "day_care"
WINE = "hpo_random_forest_wine"
TASK_FILE = "task_description.json"


def shipped(name: str = WINE) -> dict:
    return json.loads((DAY_CARE / name / TASK_FILE).read_text())


@pytest.fixture
def task_dir(tmp_path):
    """A copy of the shipped random forest / wine task."""
    folder = tmp_path / WINE
    shutil.copytree(DAY_CARE / WINE, folder)
    return folder


def write(folder: Path, data: dict) -> None:
    (folder / TASK_FILE).write_text(json.dumps(data, indent=2))


# -- the shipped tasks -------------------------------------------------------------------------------


def test_the_shipped_random_forest_task_loads_as_a_config_task():
    task = load_task_folder(DAY_CARE / WINE)
    assert isinstance(task, ConfigTask)
    assert (task.name, task.dir, task.genome, task.direction) == (WINE, DAY_CARE / WINE, "config", "maximize")
    assert task.description.startswith("Maximise the 3-fold cross-validated accuracy of a scikit-learn random forest")
    assert len(task.space) == 6
    assert task.space.names == ["n_estimators", "max_depth", "min_samples_split", "min_samples_leaf",
                                "min_weight_fraction_leaf", "max_features"]
    assert task.space == SearchSpace.from_spec(default_space("random_forest", "wine"))
    assert task.objective_spec == {"type": "sklearn", "model": "random_forest", "dataset": "wine", "cv": 3}
    assert isinstance(task.objective, SklearnObjective) and callable(task.objective)
    assert (task.objective.model, task.objective.dataset, task.objective.cv, task.objective.seed) == (
        "random_forest", "wine", 3, 0)
    assert task.decoder == DecoderOptions.parse("sample(temperature=0.8)")
    assert task.options == ConfigOptions()
    assert (task.options.warm_start, task.options.proposal, task.options.surrogate, task.options.sampler) == (
        "random", "none", "none", "tpe"), "the default: Optuna's TPE sampler on our engine, no model query"


def test_the_shipped_objective_scores_a_configuration():
    task = load_task_folder(DAY_CARE / WINE)
    config = {"n_estimators": 10, "max_depth": 3, "min_samples_split": 0.1, "min_samples_leaf": 0.05,
              "min_weight_fraction_leaf": 0.05, "max_features": 0.5}
    score = task.objective(config)
    assert 0.5 < score <= 1.0 and task.objective(config) == score, "deterministic cross-validated accuracy"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_shipped_hpo_task_loads(model, dataset):
    name = f"hpo_{model}_{dataset}"
    task = load_day_care(DAY_CARE).task(name)
    assert isinstance(task, ConfigTask) and task.genome == "config"
    assert task.space == SearchSpace.from_spec(default_space(model, dataset))
    assert (task.objective.model, task.objective.dataset) == (model, dataset)
    assert task.description == SklearnObjective(model, dataset, cv=3).describe()


def test_options_direction_decoder_and_a_python_objective(task_dir, tmp_path, monkeypatch):
    (tmp_path / "toy_objectives_for_config_task.py").write_text(textwrap.dedent("""
        def quadratic(config):
            return (config["x"] - 0.3) ** 2
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    write(task_dir, {
        "task_description": "Find x.", "genome": "config",
        "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
        "objective": {"type": "python", "function": "toy_objectives_for_config_task:quadratic"},
        "direction": "minimize", "decoder_options": "argmax",
        "config_options": {"warm_start": "random", "num_candidates": 8, "surrogate": "none", "surrogate_samples": 5,
                           "acq_strategy": "ucb", "ucb_kappa": 2.5, "target_margin": 0.2, "sampler": None},
    })
    task = load_task_folder(task_dir)
    assert task.direction == "minimize" and task.decoder == DecoderOptions.parse("argmax")
    assert task.options == ConfigOptions(warm_start="random", num_candidates=8, surrogate="none", surrogate_samples=5,
                                         acq_strategy="ucb", ucb_kappa=2.5, target_margin=0.2, sampler=None)
    assert task.objective({"x": 0.5}) == pytest.approx(0.04)
    assert task.objective.__name__ == "quadratic"


# -- mistakes ----------------------------------------------------------------------------------------


def change(**changes):
    """The shipped task with top-level keys replaced (a value of None removes the key)."""
    def apply(data):
        for key, value in changes.items():
            if value is None:
                data.pop(key)
            else:
                data[key] = value
    return apply


def param(name, **entry):
    def apply(data):
        data["search_space"][name] = {**data["search_space"][name], **entry}
    return apply


def options(**values):
    return change(config_options=values)


def objective(**spec):
    return change(objective=spec)


# (id, mutation, JSON path, part of the expectation)
CASES = [
    ("missing_search_space", change(search_space=None), "$.search_space",
     "expected required field 'search_space'"),
    ("empty_search_space", change(search_space={}), "$.search_space", "expected at least one parameter"),
    ("low_equals_high", param("max_depth", low=5, high=5), "$.search_space.max_depth.high",
     "expected high > low (got low=5, high=5)"),
    ("low_above_high", param("max_features", low=0.9, high=0.1), "$.search_space.max_features.high",
     "expected high > low (got low=0.9, high=0.1)"),
    ("int_bound_not_whole", param("n_estimators", low=10.5), "$.search_space.n_estimators.low",
     "expected a whole number for an int parameter"),
    ("log_needs_positive_low", param("max_features", low=0, log=True), "$.search_space.max_features.low",
     "expected low > 0 because log is true"),
    ("unknown_param_type", param("max_depth", type="integer"), "$.search_space.max_depth.type",
     "expected one of float, int, categorical (got 'integer')"),
    ("unknown_model", objective(type="sklearn", model="xgboost", dataset="wine"), "$.objective.model",
     "unknown model 'xgboost'; available: random_forest, decision_tree, svm, adaboost, mlp"),
    ("unknown_dataset", objective(type="sklearn", model="svm", dataset="mnist"), "$.objective.dataset",
     "unknown dataset 'mnist'; available: digits, wine, iris, breast_cancer, diabetes"),
    ("bad_cv", objective(type="sklearn", model="svm", dataset="wine", cv=1), "$.objective.cv",
     "expected cv to be an integer >= 2 (got 1)"),
    ("unknown_objective_key", objective(type="sklearn", model="svm", dataset="wine", folds=3), "$.objective.folds",
     "unknown key 'folds'"),
    ("objective_without_type", objective(model="svm", dataset="wine"), "$.objective.type",
     "expected required field 'type'"),
    ("unknown_objective_type", objective(type="torch"), "$.objective.type", "expected one of sklearn, python (got 'torch')"),
    ("python_module_missing", objective(type="python", function="nope:fn"), "$.objective.function",
     "cannot import module 'nope'"),
    ("python_function_missing", objective(type="python", function="math:nope"), "$.objective.function",
     "math.nope does not exist; callables in math:"),
    ("python_not_a_reference", objective(type="python", function="nope"), "$.objective.function",
     "expected 'module:function'"),
    ("unknown_option", options(candidates=4), "$.config_options.candidates", "unknown key 'candidates'"),
    ("bad_acq_strategy", options(acq_strategy="pi"), "$.config_options.acq_strategy",
     "expected one of ei, ucb (got 'pi')"),
    ("surrogate_beside_sampler", options(surrogate="forest"), "$.config_options.surrogate",
     "expected 'none' while sampler 'tpe' proposes every child (sampler: null, or the flag --sampler none"),
    ("ucb_beside_sampler", options(sampler="tpe", acq_strategy="ucb"), "$.config_options.acq_strategy",
     "expected 'ei' while sampler 'tpe' proposes every child"),
    ("bad_warm_start", options(warm_start="zero"), "$.config_options.warm_start", "expected one of llm, random"),
    ("bad_proposal", options(proposal="random"), "$.config_options.proposal", "expected one of llm, none"),
    ("bad_surrogate", options(surrogate="gp"), "$.config_options.surrogate", "expected one of forest, llm, generative, none"),
    ("no_candidates", options(num_candidates=0), "$.config_options.num_candidates", "expected a value >= 1"),
    ("candidates_not_integer", options(num_candidates=2.5), "$.config_options.num_candidates",
     "expected an integer"),
    ("negative_kappa", options(ucb_kappa=-1), "$.config_options.ucb_kappa", "expected a value >= 0"),
    ("llm_candidates_above_one", options(sampler="tpe", llm_candidates=1.5), "$.config_options.llm_candidates",
     "expected a value <= 1"),
    ("llm_candidates_without_tpe", options(sampler="gp", llm_candidates=0.25), "$.config_options.llm_candidates",
     "expected 0 unless sampler is tpe (the LLM's candidates are scored by that sampler's acquisition); sampler is 'gp'"),
    ("bad_direction", change(direction="up"), "$.direction", "expected one of maximize, minimize (got 'up')"),
    ("bad_decoder", change(decoder_options="greedy"), "$.decoder_options", "expected a valid LMQL decoder"),
    ("prompt_task_key", change(fitness_scorer={"type": "numeric"}), "$.fitness_scorer",
     "(got unknown key 'fitness_scorer')"),
    ("empty_description", change(task_description=" "), "$.task_description", "non-empty"),
]


@pytest.mark.parametrize("mutate, path, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_is_one_line_naming_file_path_and_expectation(task_dir, mutate, path, expected):
    data = shipped()
    mutate(data)
    write(task_dir, data)
    with pytest.raises(DayCareError) as caught:
        load_task_folder(task_dir)
    error = caught.value
    assert error.file == str(task_dir / TASK_FILE)
    assert error.path == path, str(error)
    assert expected in error.expected, str(error)
    assert str(error) == f"{task_dir / TASK_FILE}: at {path}: {error.expected}"
    assert "\n" not in str(error)


def test_a_mistake_is_found_through_the_day_care_too(tmp_path, task_dir):
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, root / name)
    data = shipped()
    data["search_space"]["max_depth"]["high"] = 0
    shutil.copytree(task_dir, root / WINE)
    write(root / WINE, data)
    day_care = load_day_care(root)
    with pytest.raises(DayCareError, match=r"hpo_random_forest_wine/task_description.json: at "
                                           r"\$\.search_space\.max_depth\.high: expected high > low"):
        day_care.task(WINE)
    with pytest.raises(DayCareError, match=r"max_depth\.high"):
        day_care.validate()


# -- a day care holding both kinds of task -----------------------------------------------------------


def test_validate_counts_examples_of_prompt_tasks_and_parameters_of_config_tasks(tmp_path):
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, root / name)
    for name in ("arithmetic_1_digit_addition", WINE, "hpo_svm_diabetes"):
        shutil.copytree(DAY_CARE / name, root / name)
    day_care = load_day_care(root)
    assert day_care.task_names == ["arithmetic_1_digit_addition", "hpo_random_forest_wine", "hpo_svm_diabetes"]
    assert day_care.validate() == {"arithmetic_1_digit_addition": 100, WINE: 6, "hpo_svm_diabetes": 4}
    assert day_care.task(WINE) is day_care.task(WINE), "loaded once"
    assert "config_propose" in day_care.query_names(WINE) and "config_surrogate" in day_care.query_names(WINE)
    assert "[SCORE]" in day_care.query_text("config_surrogate", WINE)


def test_a_task_query_override_must_keep_the_surrogate_score(tmp_path):
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, root / name)
    shutil.copytree(DAY_CARE / WINE, root / WINE)
    (root / WINE / "queries").mkdir()
    override = root / WINE / "queries" / "config_surrogate.lmql"
    override.write_text('"Guess: [GUESS]"\n')
    with pytest.raises(DayCareError, match=r"config_surrogate.lmql: at \$: expected the holes of the package query "
                                           r"config_surrogate \(missing \[SCORE\]\)"):
        load_day_care(root).validate()
    override.write_text('"Predict the score of {candidate}: [SCORE]"\n')
    assert load_day_care(root).query_text("config_surrogate", WINE) == override.read_text()


def test_the_acq_strategy_and_surrogate_flags_override_the_tasks_config_options():
    from promptbreeder.backends.fake import FakeBackend
    from promptbreeder.config import RunConfig
    from promptbreeder.daycare import load_day_care
    from promptbreeder.genomes.registry import build_genome

    day_care = load_day_care(Path(__file__).resolve().parents[3] / "day_care")
    task = day_care.task("hpo_svm_wine")
    plain = build_genome(RunConfig(task=task.name), day_care, task, FakeBackend())
    assert (plain.options.acq_strategy, plain.options.surrogate) == (task.options.acq_strategy, task.options.surrogate)
    flagged = build_genome(RunConfig(task=task.name, acq_strategy="ucb", surrogate="llm", sampler="none"), day_care,
                           task, FakeBackend())
    assert (flagged.options.acq_strategy, flagged.options.surrogate, flagged.options.sampler) == ("ucb", "llm", None)
    assert flagged.options.num_candidates == task.options.num_candidates, "the other options stay the task's"


@pytest.mark.parametrize("flags, field", [({"surrogate": "forest"}, "surrogate"), ({"acq_strategy": "ucb"}, "acq_strategy")])
def test_a_surrogate_flag_beside_the_default_sampler_is_a_one_line_error_before_any_run_folder(flags, field):
    """The default sampler proposes every child: a surrogate setting would be silently ignored, so it is refused,
    naming the flag, the option and how to select the proposals that use it."""
    from promptbreeder.config import RunConfig
    from promptbreeder.daycare import load_day_care
    from promptbreeder.errors import ConfigError
    from promptbreeder.genomes.hpo.kind import HPO

    day_care = load_day_care(Path(__file__).resolve().parents[3] / "day_care")
    task = day_care.task("hpo_svm_wine")
    flag = next(iter(flags.items()))
    with pytest.raises(ConfigError, match=rf"--{flag[0]} {flag[1]}: task hpo_svm_wine's config_options.{field} must be"
                                          r" .* while sampler 'tpe' proposes every child \(sampler: null, or the flag"
                                          r" --sampler none"):
        HPO.check_config(RunConfig(task=task.name, **flags), task)
    HPO.check_config(RunConfig(task=task.name, sampler="none", **flags), task)  # the LLM/GA path takes it

