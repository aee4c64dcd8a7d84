"""Model-free HPO searchers behind one ask/tell interface: random search and Optuna's samplers.

Optuna's samplers are used as Optuna ships them (`OPTUNA_SAMPLERS`): TPE, CMA-ES (the `cmaes` package;
categorical parameters are drawn by its independent sampler), a Gaussian process with log expected
improvement (GP) and scrambled Sobol points (QMC).

Contract
- `ask()` returns a valid config of the searcher's `SearchSpace`; `tell(config, score)` reports its score.
  Several configs may be asked before any is told. Telling a config that was never asked is allowed: it
  is recorded as an extra observation (so other methods' proposals can seed a searcher).
- Every searcher is deterministic for a given seed and sequence of tells.
- `direction` is "maximize" (default: objectives here are scores) or "minimize". Random search ignores it
  except for validation, so every searcher can be built as `SEARCHERS[name](space, seed, direction=...)`.
- A non-finite score is recorded as a failed trial by Optuna's samplers (Optuna would otherwise reject it).
- `OptunaSearch.ask_with_state(candidates)` lets outside configurations (the LLM's, in the config genome's
  hybrid) compete with TPE's own draws under TPE's acquisition; the other samplers have none to offer.
- `run_search(searcher, objective, budget)` runs `budget` ask/evaluate/tell rounds and returns the
  `(config, score)` history in evaluation order.
"""

from __future__ import annotations

import functools
import math
import random
from typing import Callable, Protocol, Sequence, runtime_checkable

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


def optuna_sampler(name: str, seed: int):
    """A fresh Optuna sampler by our name for it (`OPTUNA_SAMPLERS`); ValueError listing them for another."""
    import warnings

    import optuna

    samplers = optuna.samplers
    if name == "tpe":
        return _tpe_with_candidates()(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
    if name == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return samplers.GPSampler(seed=seed)
    if name == "qmc":
        with warnings.catch_warnings():  # QMCSampler is flagged experimental; we pin the version that we test
            warnings.simplefilter("ignore")
            return samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)
    raise ValueError(f"unknown Optuna sampler {name!r}; available: {', '.join(OPTUNA_SAMPLERS)}")


OPTUNA_SAMPLERS = ("tpe", "cmaes", "gp", "qmc")
CANDIDATE_SAMPLERS = ("tpe",)  # the samplers that score outside candidates by their own acquisition
TPE_STARTUP_TRIALS = 10  # Optuna's default: TPE samples at random (and ignores candidates) until this many complete


@functools.cache  # one class, not one per breed
def _tpe_with_candidates():
    """Optuna's TPESampler, to which a caller may hand outside candidates for its next sample.

    TPE draws `n_ei_candidates` points from its density of good configurations, l(x), and keeps the one with
    the best acquisition log l(x) - log g(x). Here `candidates` (per parameter, in Optuna's internal
    representation) join those draws before the acquisition is computed, so an outside configuration is taken
    exactly when TPE itself rates it above all of its own draws; `taken_candidate` is then its index (else
    None). Without candidates it is TPESampler: the same draws from the same random stream. Before TPE's
    start-up trials are complete it samples at random and no candidate is considered."""
    import numpy as np
    import optuna

    class TPEWithCandidates(optuna.samplers.TPESampler):
        candidates: dict[str, list[float]] = {}
        taken_candidate: int | None = None

        def _compute_acquisition_func(self, samples, mpe_below, mpe_above):
            # only a joint (relative) sample of every parameter can take a whole candidate
            if not self.candidates or samples.keys() != self.candidates.keys():
                return super()._compute_acquisition_func(samples, mpe_below, mpe_above)
            own = len(next(iter(samples.values())))
            for name in samples:  # TPESampler._sample takes the argmax over this same dict: extend it in place
                samples[name] = np.concatenate([samples[name], np.asarray(self.candidates[name],
                                                                          dtype=samples[name].dtype)])
            values = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
            best = int(np.argmax(values))
            self.taken_candidate = best - own if best >= own else None
            return values

    return TPEWithCandidates


class OptunaSearch:
    """An Optuna sampler (`OPTUNA_SAMPLERS`, seeded) through Optuna's ask/tell API (in-memory study, logging
    silenced)."""

    sampler_name = "tpe"

    def __init__(self, space: SearchSpace, seed: int, direction: str = "maximize", sampler: str | None = None):
        import optuna

        # Optuna logs one INFO line per trial; the callers (benchmarks, tests) report results themselves.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.seed, self.direction = space, seed, _check_direction(direction)
        self.sampler_name = sampler or self.sampler_name
        self._optuna = optuna
        self._distributions = {p.name: self._distribution(p) for p in space.params}
        self.study = optuna.create_study(direction=direction, sampler=optuna_sampler(self.sampler_name, seed))
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

    def ask_with_state(self, candidates: Sequence[dict] = ()) -> tuple[dict, dict, int | None]:
        """`ask()`, the state the sampler attached to its trial (CMA-ES keeps its search distribution there: a
        searcher rebuilt from the history continues from it when each config is told back with its state), and
        which of `candidates` was taken, or None. `candidates` (valid configs of the space) compete with the
        sampler's own draws under its acquisition; only `CANDIDATE_SAMPLERS` take them."""
        sampler, taken = self.study.sampler, None
        if candidates and self.sampler_name not in CANDIDATE_SAMPLERS:
            raise ValueError(f"{self.sampler_name} cannot score outside candidates; only"
                             f" {', '.join(CANDIDATE_SAMPLERS)} can")
        if candidates:
            sampler.candidates = {name: [self._distributions[name].to_internal_repr(c[name]) for c in candidates]
                                  for name in self.space.names}
            sampler.taken_candidate = None
            try:
                config = self.ask()
            finally:
                sampler.candidates = {}
            taken = sampler.taken_candidate
        else:
            config = self.ask()
        trial = self._pending[self.space.key(config)][-1]
        return config, dict(self.study._storage.get_trial(trial._trial_id).system_attrs), taken

    def tell(self, config: dict, score: float, sampler_state: dict | None = None) -> None:
        """`sampler_state`: for a config this searcher did not ask, the state `ask_with_state` gave with it."""
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
            raise ValueError(f"cannot tell {self.sampler_name} an invalid config: {'; '.join(problems)}")
        params = {name: config[name] for name in self.space.names}
        frozen = self._optuna.trial.create_trial(
            params=params, distributions=self._distributions, value=value, state=trial_state,
            system_attrs=sampler_state or None
        )
        self.study.add_trial(frozen)


class TPESearch(OptunaSearch):
    sampler_name = "tpe"


class CmaEsSearch(OptunaSearch):
    sampler_name = "cmaes"


class GPSearch(OptunaSearch):
    sampler_name = "gp"


class QMCSearch(OptunaSearch):
    sampler_name = "qmc"


SEARCHERS: dict[str, type] = {"random": RandomSearch, "tpe": TPESearch, "cmaes": CmaEsSearch, "gp": GPSearch,
                              "qmc": QMCSearch}


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
