"""Model-free hyperparameter optimisation core: search spaces, sklearn objectives, baselines and regret.

`space` (SearchSpace, SearchSpaceError), `objectives` (Bayesmark-style SklearnObjective suite),
`baselines` (random search and Optuna TPE behind an ask/tell `Searcher`) and `regret` (normalised regret,
bootstrap CIs). scikit-learn and Optuna are imported lazily, so importing this package stays cheap.
"""

from promptbreeder.hpo.baselines import SEARCHERS, RandomSearch, Searcher, TPESearch, make_searcher, run_search
from promptbreeder.hpo.objectives import (
    DATASETS,
    MODELS,
    ObjectiveError,
    SklearnObjective,
    default_space,
    objective_from_spec,
)
from promptbreeder.hpo.regret import best_so_far, bootstrap_ci, normalised_regret
from promptbreeder.hpo.space import Param, SearchSpace, SearchSpaceError

__all__ = [
    "DATASETS",
    "MODELS",
    "SEARCHERS",
    "ObjectiveError",
    "Param",
    "RandomSearch",
    "SearchSpace",
    "SearchSpaceError",
    "Searcher",
    "SklearnObjective",
    "TPESearch",
    "best_so_far",
    "bootstrap_ci",
    "default_space",
    "make_searcher",
    "normalised_regret",
    "objective_from_spec",
    "run_search",
]
