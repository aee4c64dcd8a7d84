"""The HPO genome (`"genome": "config"` in a task folder): LLAMBO-style search over hyperparameter configurations.

kind.py (registry entry) task.py (task folders) genome.py (ConfigGenome) surrogate.py (tree ensemble,
EI/UCB), and the model-free core re-exported here: `space` (SearchSpace, SearchSpaceError), `objectives`
(Bayesmark-style SklearnObjective suite), `baselines` (random search and Optuna TPE behind an ask/tell
`Searcher`) and `regret` (normalised regret, bootstrap CIs). scikit-learn and Optuna are imported lazily,
so importing this package stays cheap.
"""

from promptbreeder.genomes.hpo.baselines import SEARCHERS, RandomSearch, Searcher, TPESearch, make_searcher, run_search
from promptbreeder.genomes.hpo.objectives import (
    DATASETS,
    MODELS,
    ObjectiveError,
    SklearnObjective,
    default_space,
    objective_from_spec,
)
from promptbreeder.genomes.hpo.regret import best_so_far, bootstrap_ci, normalised_regret
from promptbreeder.genomes.hpo.space import Param, SearchSpace, SearchSpaceError

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
