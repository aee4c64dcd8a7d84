"""Model-free HPO baselines behind one ask/tell interface: random search and Optuna's TPE.

Contract
- `ask()` returns a valid config of the searcher's `SearchSpace`; `tell(config, score)` reports its score.
  Several configs may be asked before any is told. Telling a config that was never asked is allowed: it
  is recorded as an extra observation (so other methods' proposals can seed a searcher).
- Both searchers are deterministic for a given seed and sequence of tells.
- `direction` is "maximize" (default: objectives here are scores) or "minimize". Random search ignores it
  except for validation, so every searcher can be built as `SEARCHERS[name](space, seed, direction=...)`.
- A non-finite score is recorded as a failed trial by TPE (Optuna would otherwise reject it).
- `run_search(searcher, objective, budget)` runs `budget` ask/evaluate/tell rounds and returns the
  `(config, score)` history in evaluation order.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Protocol, runtime_checkable

from promptbreeder.genomes.hpo.space import SearchSpace

DIRECTIONS = ("maximize", "minimize")


@runtime_checkable
class Searcher(Protocol):
    def ask(self) -> dict: ...

    def tell(self, config: dict, score: float) -> None: ...


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)} (got {direction!r})")
    return direction


class RandomSearch:
    """Independent uniform (log-uniform where `log`) samples from the space, seeded."""

    def __init__(self, space: SearchSpace, seed: int, direction: str = "maximize"):
        self.space, self.seed, self.direction = space, seed, _check_direction(direction)
        self._rng = random.Random(seed)
        self.history: list[tuple[dict, float]] = []

    def ask(self) -> dict:
        return self.space.sample(self._rng)

    def tell(self, config: dict, score: float) -> None:
        self.history.append((dict(config), float(score)))


class TPESearch:
    """Optuna's TPESampler(seed=seed) through Optuna's ask/tell API (in-memory study, logging silenced)."""

    def __init__(self, space: SearchSpace, seed: int, direction: str = "maximize"):
        import optuna

        # Optuna logs one INFO line per trial; the callers (benchmarks, tests) report results themselves.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.seed, self.direction = space, seed, _check_direction(direction)
        self._optuna = optuna
        self._distributions = {p.name: self._distribution(p) for p in space.params}
        self.study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
        self._pending: dict[str, list] = {}  # space.key(config) -> asked, untold trials (FIFO)
        self.history: list[tuple[dict, float]] = []

    def _distribution(self, p):
        d = self._optuna.distributions
        if p.kind == "categorical":
            return d.CategoricalDistribution(list(p.choices))
        if p.kind == "int":
            return d.IntDistribution(int(p.low), int(p.high), log=p.log)
        return d.FloatDistribution(float(p.low), float(p.high), log=p.log)

    def ask(self) -> dict:
        trial = self.study.ask(self._distributions)
        # Rebuild in space order (Optuna returns params in suggestion order, which may differ).
        config = {name: trial.params[name] for name in self.space.names}
        self._pending.setdefault(self.space.key(config), []).append(trial)
        return config

    def tell(self, config: dict, score: float) -> None:
        score = float(score)
        self.history.append((dict(config), score))
        state = self._optuna.trial.TrialState
        value, trial_state = (score, state.COMPLETE) if math.isfinite(score) else (None, state.FAIL)
        queue = self._pending.get(self.space.key(config))
        if queue:
            trial = queue.pop(0)
            self.study.tell(trial, value, state=trial_state)
            return
        # A config this searcher never asked for (e.g. proposed by another method): record it as data.
        problems = self.space.problems(config)
        if problems:
            raise ValueError(f"cannot tell TPE an invalid config: {'; '.join(problems)}")
        params = {name: config[name] for name in self.space.names}
        frozen = self._optuna.trial.create_trial(
            params=params, distributions=self._distributions, value=value, state=trial_state
        )
        self.study.add_trial(frozen)


SEARCHERS: dict[str, type] = {"random": RandomSearch, "tpe": TPESearch}


def make_searcher(name: str, space: SearchSpace, seed: int, direction: str = "maximize") -> Searcher:
    """`SEARCHERS[name](space, seed, direction=direction)`; an unknown name is a ValueError listing them."""
    if name not in SEARCHERS:
        raise ValueError(f"unknown searcher {name!r}; available: {', '.join(SEARCHERS)}")
    return SEARCHERS[name](space, seed, direction=direction)


def run_search(searcher: Searcher, objective: Callable[[dict], float], budget: int) -> list[tuple[dict, float]]:
    """`budget` sequential ask -> objective -> tell rounds; the `(config, score)` pairs in order."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be a non-negative integer (got {budget!r})")
    history: list[tuple[dict, float]] = []
    for _ in range(budget):
        config = searcher.ask()
        score = float(objective(config))
        searcher.tell(config, score)
        history.append((config, score))
    return history
