"""`GenerationTuner`: a scikit-learn estimator whose hyperparameters are an LLM's generation parameters.

There is nothing to train: `fit` checks the configuration, `predict` generates one answer per example,
`score` is the user's metric `scorer(y_true, y_pred)`. That is all scikit-learn's searches need, so
`GridSearchCV`, `RandomizedSearchCV` and Optuna's `OptunaSearchCV` search the decoding parameters as
they would a classifier's (use `cv=whole_dataset_cv(len(X))` to score every candidate on all examples
once; `n_jobs=1`, since one model is shared).

Examples are given as `X`: prompt strings, or dicts of input columns that `sample_preprocessor(tokenizer,
**row)` turns into the prompt (e.g. through the chat template); `prepare_dataset` builds such `X` and `y`
from rows and a `column_mapping`, as llmsearch's Tuner does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from promptbreeder.backends.base import Backend
from promptbreeder.errors import UsageError
from promptbreeder.tuning.generators import BackendGenerator, HFGenerator
from promptbreeder.tuning.params import GenerationParams


class GenerationTuner(BaseEstimator):
    """Generate with `model` + `tokenizer` (Hugging Face, through `model.generate`) or with a promptbreeder
    `backend`, and score with `scorer(y_true, y_pred) -> float` (higher is better).

    Generation parameters (the search space; defaults turn each filter off, temperature 0 is greedy):
    temperature, top_k, top_p, tfs, top_a, repetition_penalty, no_repeat_ngram_size, num_beams,
    max_new_tokens, seed. A backend applies temperature, top_k, top_p, tfs, top_a, max_new_tokens and seed
    and refuses the others.

    `chat`: each prompt is the user's turn of a chat (the model's chat template, or the backend's chat
    format) instead of the model's raw input. `stop`: strings that end an answer (cut before them);
    `stopping_criteria`: transformers StoppingCriteria such as `MultiTokenStoppingCriteria` (model +
    tokenizer only); `callbacks_after_inference`: callables run after every batch.
    """

    def __init__(self, model=None, tokenizer=None, backend: Backend | None = None,
                 scorer: Callable[[Sequence, Sequence[str]], float] | None = None, *,
                 sample_preprocessor: Callable[..., str] | None = None, chat: bool = False, batch_size: int = 16,
                 stop: Sequence[str] | None = None, stopping_criteria: Sequence | None = None,
                 callbacks_after_inference: Sequence[Callable[[], Any]] | None = None,
                 tokenizer_encode_args: dict | None = None, tokenizer_decode_args: dict | None = None,
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, tfs: float = 1.0,
                 top_a: float = 0.0, repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                 num_beams: int = 1, max_new_tokens: int = 64, seed: int = 0):
        # scikit-learn's contract: store the arguments as given, check them in fit
        self.model = model
        self.tokenizer = tokenizer
        self.backend = backend
        self.scorer = scorer
        self.sample_preprocessor = sample_preprocessor
        self.chat = chat
        self.batch_size = batch_size
        self.stop = stop
        self.stopping_criteria = stopping_criteria
        self.callbacks_after_inference = callbacks_after_inference
        self.tokenizer_encode_args = tokenizer_encode_args
        self.tokenizer_decode_args = tokenizer_decode_args
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.tfs = tfs
        self.top_a = top_a
        self.repetition_penalty = repetition_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    def __sklearn_clone__(self) -> "GenerationTuner":
        # scikit-learn's own clone deep-copies every argument that is not an estimator: a copy of the
        # model per candidate. The model, backend and callables are shared instead; only settings differ.
        return type(self)(**self.get_params(deep=False))

    @property
    def params(self) -> GenerationParams:
        """The generation parameters as set now, checked (UsageError names a bad one)."""
        return GenerationParams.of(self.get_params(deep=False))

    def fit(self, X=None, y=None) -> "GenerationTuner":
        """Nothing is learned: checks the settings and builds the generator (a search's fit per candidate)."""
        self.params  # noqa: B018 (checks every generation parameter)
        if (self.model is None) == (self.backend is None):
            raise UsageError("GenerationTuner needs either model= (with tokenizer=) or backend=, not both")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"GenerationTuner batch_size={self.batch_size!r}: expected an integer >= 1")
        if self.stop is not None and (isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop)):
            raise UsageError(f"GenerationTuner stop={self.stop!r}: expected a list of non-empty strings")
        if self.backend is not None:
            self.generator_ = BackendGenerator(self.backend, chat=bool(self.chat))
        else:
            self.generator_ = HFGenerator(self.model, self.tokenizer, self.batch_size, self.tokenizer_encode_args,
                                          self.tokenizer_decode_args, chat=bool(self.chat))
        return self

    def prompts(self, X) -> list[str]:
        """The prompt of each example: the string itself, `sample_preprocessor(tokenizer, **row)` for a
        dict, or a dict's only value."""
        prompts = []
        for i, example in enumerate(_rows(X)):
            if self.sample_preprocessor is not None:
                prompt = self.sample_preprocessor(self.tokenizer, **example) if isinstance(example, dict) \
                    else self.sample_preprocessor(self.tokenizer, example)
            elif isinstance(example, str):
                prompt = example
            elif isinstance(example, dict) and len(example) == 1:
                prompt = next(iter(example.values()))
            else:
                raise UsageError(f"GenerationTuner: example {i} is a {type(example).__name__} with"
                                 f" {len(example) if isinstance(example, dict) else 'no'} columns; give prompt strings,"
                                 " one-column dicts, or a sample_preprocessor that builds the prompt")
            if not isinstance(prompt, str):
                raise UsageError(f"GenerationTuner: the prompt of example {i} is a {type(prompt).__name__}, not a string")
            prompts.append(prompt)
        return prompts

    def predict(self, X) -> list[str]:
        """One generated answer per example, in order."""
        if not hasattr(self, "generator_"):
            self.fit()
        return self.generator_.generate(self.prompts(X), self.params, tuple(self.stop or ()),
                                        list(self.stopping_criteria or ()), list(self.callbacks_after_inference or ()))

    def score(self, X, y) -> float:
        """`scorer(y_true, y_pred)` on the answers to X (what a search maximises)."""
        if self.scorer is None:
            raise UsageError("GenerationTuner.score needs scorer= (a function of y_true and y_pred)")
        y_true = list(_rows(y))
        y_pred = self.predict(X)
        if len(y_true) != len(y_pred):
            raise UsageError(f"GenerationTuner.score: {len(y_pred)} examples but {len(y_true)} labels")
        return float(self.scorer(y_true, y_pred))


def _rows(data) -> list:
    """Examples as a list, whether given as a list, a numpy array or a pandas Series/DataFrame."""
    if isinstance(data, list):
        return data
    if hasattr(data, "columns"):  # a DataFrame: one dict per row
        return data.to_dict("records")
    if hasattr(data, "tolist"):  # a numpy array or a pandas Series
        return list(data.tolist())
    return list(data)


def whole_dataset_cv(n_examples: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A "cross-validation" of one split that scores every candidate on all examples: nothing is trained,
    so a held-in part would only be wasted generations."""
    every = np.arange(n_examples)
    return [(every, every)]


def prepare_dataset(rows: Sequence[dict], column_mapping: dict[str, Sequence[str]]) -> tuple[list[dict], list[dict]]:
    """`X` (the input columns of each row) and `y` (its evaluation columns), as llmsearch's Tuner builds them.

    `column_mapping`: {"input_cols": [...], "eval_cols": [...]}. Raises UsageError naming a missing column."""
    unknown = set(column_mapping) - {"input_cols", "eval_cols"}
    if unknown or not column_mapping.get("input_cols"):
        raise UsageError(f"column_mapping needs 'input_cols' (and usually 'eval_cols'), got {sorted(column_mapping)}")
    X, y = [], []
    for i, row in enumerate(rows):
        for column in [*column_mapping["input_cols"], *column_mapping.get("eval_cols", ())]:
            if column not in row:
                raise UsageError(f"row {i} has no column {column!r}; it has {', '.join(sorted(row))}")
        X.append({c: row[c] for c in column_mapping["input_cols"]})
        y.append({c: row[c] for c in column_mapping.get("eval_cols", ())})
    return X, y
