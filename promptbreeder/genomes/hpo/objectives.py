"""Bayesmark-style HPO objectives: scikit-learn models x bundled datasets, cross-validated, higher is better.

Contract
- `SklearnObjective(model, dataset, cv, seed)(config) -> float` is the mean `cv`-fold score of `model`
  built with `config` as keyword arguments. It is deterministic for (config, cv, seed): folds are shuffled
  with `seed` and every estimator gets `random_state=seed`; everything runs single-threaded.
- Metric: "accuracy" for the classification datasets, "r2" for diabetes (regression). R^2 rather than
  negative MSE because it is unit-free (1 = perfect, 0 = predicting the mean), so scores, regret and plots
  are comparable across tasks without knowing the target's scale.
- A config that sklearn rejects, or any fit that fails, scores the metric's floor instead of raising: a bad
  proposal is an outcome to learn from, not a crash. Floors: 0.0 for accuracy, `R2_FLOOR` (-1.0) for r2;
  r2 is also clipped at that floor because a diverging fit can reach -1e6 and would otherwise dominate
  means such as the random-search reference used by normalised regret.
- Unknown model/dataset names and malformed objective specs raise `ObjectiveError` (a ValueError).
- Speed: RF <= 50 trees, AdaBoost <= 50 stumps, MLP 15 epochs, BLAS/OpenMP held to one thread, so one
  evaluation takes well under a second on a 2-core CPU (measured max ~0.5 s, MLP on digits). SVM/MLP
  standardise features (and the regression target) inside a Pipeline so no statistics leak across folds.
"""

from __future__ import annotations

import functools
import importlib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

MODELS = ("random_forest", "decision_tree", "svm", "adaboost", "mlp")
DATASETS = ("digits", "wine", "iris", "breast_cancer", "diabetes")  # diabetes is regression
REGRESSION_DATASETS = ("diabetes",)
ACCURACY_FLOOR = 0.0
R2_FLOOR = -1.0

_MODEL_WORDS = {
    "random_forest": "random forest",
    "decision_tree": "decision tree",
    "svm": "RBF-kernel support vector machine (standardised features)",
    "adaboost": "AdaBoost ensemble of decision stumps",
    "mlp": "one-hidden-layer MLP trained with Adam (standardised features)",
}


class ObjectiveError(ValueError):
    """An unknown model/dataset or a malformed objective spec. `.path` is a JSON path into the spec."""

    def __init__(self, message: str, path: str = "$"):
        self.path, self.message = path, message
        super().__init__(message if path == "$" else f"at {path}: {message}")


# Bayesmark's ranges (bayesmark/sklearn_funcs.py), with its "logit" scales made linear (no logit scale here)
# and two speed caps: RF has at most 50 trees and AdaBoost at most 50 stumps.
_FRACTIONS = {
    "min_samples_split": {"type": "float", "low": 0.01, "high": 0.99},
    "min_samples_leaf": {"type": "float", "low": 0.01, "high": 0.49},
    "min_weight_fraction_leaf": {"type": "float", "low": 0.01, "high": 0.49},
    "max_features": {"type": "float", "low": 0.01, "high": 0.99},
}
_SPACES: dict[str, dict[str, Any]] = {
    "decision_tree": {
        "max_depth": {"type": "int", "low": 1, "high": 15},
        **_FRACTIONS,
        "min_impurity_decrease": {"type": "float", "low": 0.0, "high": 0.5},
    },
    "random_forest": {
        "n_estimators": {"type": "int", "low": 10, "high": 50},
        "max_depth": {"type": "int", "low": 1, "high": 15},
        **_FRACTIONS,
    },
    "svm": {
        "C": {"type": "float", "low": 1.0, "high": 1e3, "log": True},
        "gamma": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
        "tol": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    },
    "adaboost": {
        "n_estimators": {"type": "int", "low": 10, "high": 50},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 10.0, "log": True},
    },
    "mlp": {
        "hidden_layer_sizes": {"type": "int", "low": 50, "high": 200},
        "alpha": {"type": "float", "low": 1e-5, "high": 10.0, "log": True},
        "batch_size": {"type": "int", "low": 32, "high": 256, "log": True},
        "learning_rate_init": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "tol": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    },
}
# SVR's extra knob: the width of the no-penalty tube, in units of the standardised target.
_SVR_EXTRA = {"epsilon": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}
# Keyword arguments not searched; a config may override them (a custom space can search n_estimators etc.).
_FIXED: dict[str, dict[str, Any]] = {
    "random_forest": {"n_jobs": 1},
    "svm": {"kernel": "rbf"},
    "mlp": {"max_iter": 15, "solver": "adam"},
}


def _check_names(model: str, dataset: str) -> None:
    if model not in MODELS:
        raise ObjectiveError(f"unknown model {model!r}; available: {', '.join(MODELS)}", "$.model")
    if dataset not in DATASETS:
        raise ObjectiveError(f"unknown dataset {dataset!r}; available: {', '.join(DATASETS)}", "$.dataset")


def default_space(model: str, dataset: str) -> dict:
    """A search-space spec (see space.py) for `model`, with the regression variant's extras for diabetes."""
    _check_names(model, dataset)
    spec = {name: dict(entry) for name, entry in _SPACES[model].items()}
    if model == "svm" and dataset in REGRESSION_DATASETS:
        spec.update({name: dict(entry) for name, entry in _SVR_EXTRA.items()})
    return spec


@functools.lru_cache(maxsize=None)
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """`(X, y)` of a bundled sklearn dataset (no network), loaded once per process."""
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise ObjectiveError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}", "$.dataset")
    X, y = loaders[name](return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    X.setflags(write=False)  # shared by every evaluation via the cache: nobody may change it
    y = np.asarray(y)
    y.setflags(write=False)
    return X, y


def _build(model: str, regression: bool, params: dict[str, Any], seed: int):
    """The estimator for `model` with `params` (raises whatever sklearn raises for bad params)."""
    from sklearn import ensemble, neural_network, svm, tree
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = {
        "random_forest": (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor),
        "decision_tree": (tree.DecisionTreeClassifier, tree.DecisionTreeRegressor),
        "svm": (svm.SVC, svm.SVR),
        "adaboost": (ensemble.AdaBoostClassifier, ensemble.AdaBoostRegressor),
        "mlp": (neural_network.MLPClassifier, neural_network.MLPRegressor),
    }
    cls = classes[model][regression]
    if "random_state" in cls._get_param_names():  # SVR has none; SVC's only matters for probability=True
        params = {"random_state": seed, **params}
    estimator = cls(**params)
    if model in ("svm", "mlp"):
        # RBF kernels and gradient descent assume comparable feature scales (digits: 0..16, breast_cancer: 0..4000).
        estimator = make_pipeline(StandardScaler(), estimator)
        if regression:
            # diabetes' target spans 25..346; epsilon/tol ranges are meant for a unit-scale target.
            estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return estimator


@dataclass
class SklearnObjective:
    """Cross-validated score of a scikit-learn model on a bundled dataset; see the module docstring."""

    model: str
    dataset: str
    cv: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        _check_names(self.model, self.dataset)
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise ObjectiveError(f"expected cv to be an integer >= 2 (got {self.cv!r})", "$.cv")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ObjectiveError(f"expected seed to be an integer (got {self.seed!r})", "$.seed")

    @property
    def regression(self) -> bool:
        return self.dataset in REGRESSION_DATASETS

    @property
    def metric(self) -> str:
        return "r2" if self.regression else "accuracy"

    @property
    def floor(self) -> float:
        """The score of a failed or rejected config (also the lowest score ever returned)."""
        return R2_FLOOR if self.regression else ACCURACY_FLOOR

    def space(self) -> dict:
        return default_space(self.model, self.dataset)

    def __call__(self, config: dict) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
        from threadpoolctl import threadpool_limits

        _check_names(self.model, self.dataset)
        X, y = load_dataset(self.dataset)
        splitter = (KFold if self.regression else StratifiedKFold)(self.cv, shuffle=True, random_state=self.seed)
        params = {**_FIXED.get(self.model, {}), **dict(config)}
        try:
            # One BLAS/OpenMP thread: the matrices are small, and multi-threaded BLAS made MLP fits 5-30x slower
            # (thread spin/oversubscription on 2 cores, worse when benchmarks run evaluations in parallel).
            with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(limits=1):
                # Short capped MLP runs rarely converge and diverging configs overflow; both are scored, not shown.
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                # sklearn clips an MLP batch_size above the fold size itself (small datasets, large batches).
                warnings.filterwarnings("ignore", message="Got `batch_size`", category=UserWarning)
                estimator = _build(self.model, self.regression, params, self.seed)
                scores = cross_val_score(estimator, X, y, cv=splitter, scoring=self.metric, error_score="raise")
            score = float(np.mean(scores))
        except Exception:  # noqa: BLE001 - any rejection or failed fit of a proposed config is a scored outcome
            return self.floor
        if not math.isfinite(score):
            return self.floor
        return min(max(score, self.floor), 1.0)

    def describe(self) -> str:
        """One sentence for the LLM's task description."""
        X, y = load_dataset(self.dataset)
        shape = f"{X.shape[0]} samples, {X.shape[1]} features"
        if self.regression:
            what, target = "regressor", f"{shape}, a numeric target"
        else:
            what, target = "classifier", f"{shape}, {len(np.unique(y))} classes"
        return (
            f"Maximise the {self.cv}-fold cross-validated {'R^2' if self.regression else 'accuracy'} of a "
            f"scikit-learn {_MODEL_WORDS[self.model]} {what} on the {self.dataset} dataset ({target}); "
            f"higher is better and a config that fails scores {self.floor:g}."
        )


def objective_from_spec(spec: dict) -> Callable[[dict], float]:
    """`{"type": "sklearn", "model", "dataset", "cv"?, "seed"?}` or `{"type": "python", "function": "mod:fn"}`."""
    if not isinstance(spec, dict):
        raise ObjectiveError(f"expected an object with a 'type' (sklearn or python) (got {spec!r})")
    kind = spec.get("type")
    allowed = {"sklearn": {"type", "model", "dataset", "cv", "seed"}, "python": {"type", "function"}}
    if kind not in allowed:
        raise ObjectiveError(f"expected type 'sklearn' or 'python' (got {kind!r})", "$.type")
    for key in spec:
        if key not in allowed[kind]:
            raise ObjectiveError(f"unknown key {key!r}; expected only {', '.join(sorted(allowed[kind]))}", f"$.{key}")
    if kind == "sklearn":
        for key in ("model", "dataset"):
            if key not in spec:
                raise ObjectiveError(f"expected required field {key!r}, but it is missing", f"$.{key}")
        return SklearnObjective(spec["model"], spec["dataset"], cv=spec.get("cv", 3), seed=spec.get("seed", 0))
    target = spec.get("function")
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise ObjectiveError(f"expected 'module:function', e.g. 'my_pkg.objectives:quadratic' (got {target!r})", "$.function")
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ObjectiveError(f"cannot import module {module_name!r} ({exc})", "$.function") from None
    function = getattr(module, attr, None)
    if not callable(function):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        problem = "is not callable" if hasattr(module, attr) else "does not exist"
        raise ObjectiveError(
            f"{module_name}.{attr} {problem}; callables in {module_name}: {', '.join(found) or 'none'}", "$.function"
        )
    return function
