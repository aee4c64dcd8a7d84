"""llmsearch-style search over generation parameters with scikit-learn's (and Optuna's) searches."""

from promptbreeder.tuning.estimator import GenerationTuner, prepare_dataset, whole_dataset_cv
from promptbreeder.tuning.params import GenerationParams
from promptbreeder.tuning.stopping import MultiTokenStoppingCriteria

__all__ = ["GenerationTuner", "GenerationParams", "MultiTokenStoppingCriteria", "prepare_dataset", "whole_dataset_cv"]
