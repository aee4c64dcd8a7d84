"""The genome contract: what the one GA engine (`engine.Breeder`) needs from a kind of individual.

The Breeder owns everything every genome shares: the population, the run's RNG, id numbering,
binary tournaments with elitism, crediting operators whose child beat its parent, snapshots,
events, progress and continuing a run. A genome says only how its individuals are created, scored,
bred and reported:

- `create(ids, rng)` — generation 0: one individual per id (may query the model), plus events to log.
- `draw_batch(rng)` — what both units of a tournament are judged on (a batch of training examples
  for prompts; None where the score does not depend on a draw, as for an HPO objective).
- `score(groups, generation)` — set `fitness` of every individual of each (individuals, batch) group,
  all groups in as few backend calls as the genome can manage.
- `breed(winners, population, generation, new_id, rng)` — one `Birth` per winner; the child is
  unscored (`fitness is None`) and gets its score in its first tournament.
- `report(population, generation)` / `format_report(report)` — the end-of-run comparison;
  `report_rows(report)` — the same as rows {"name", "prompt", "score"} for dashboards.
- `state()` / `load_state(state)` — the genome's own part of a snapshot (top-level keys listed in
  `STATE_KEYS`), e.g. operator statistics; `individual_from_dict` restores an individual.
- `label(individual)` — one line that shows an individual in logs and dashboards.
- `stand_in_objective(score)` — for --dry-run, where the genome scores with something other than the model.
- `target_reached()` — optional: why the run may end early because its goal is met (None by default).
- `score_examples(individuals, generation)` / `example_scores(individual)` — only where
  `per_example_scores` is True (`selection: pareto`): score each individual on the genome's one fixed
  example set, setting `fitness` to the mean, and give its per-example scores (the same examples, in the
  same order, for every individual of the run).

A user's function that scores an individual (an HPO objective, a text evaluator, `optimize`'s `f`) may
raise or return garbage: `guarded_call` turns that into a failed evaluation (the worst fitness, -inf,
with the reason kept) so the run goes on.

Individuals are plain dataclasses with `id`, `fitness`, `generation`, `parent`, `operator` and a
JSON-serialisable `to_dict()`. Genome kinds (task folder, genome, saved runs) are `genomes/kind.py`
entries registered in `genomes/registry.py`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

COPY_OPERATOR = "copy"  # a child that is a plain copy of its parent, after every operator failed
FAILED_FITNESS = float("-inf")  # an evaluation that raised: it loses every tournament


def guarded_call(function: Callable[[Any], Any], argument: Any, who: str) -> tuple[Any, str | None]:
    """`(function(argument), None)`, or `(None, reason)` when the user's function raised."""
    try:
        return function(argument), None
    except Exception as exc:  # the user's code failed on this individual: a failed score, not a crashed run
        return None, f"{who} raised {type(exc).__name__}: {str(exc)[:300]}"


def running_best(scores: Sequence[float], sign: float = 1.0) -> list[float]:
    """The best score so far after each evaluation (highest, or lowest when `sign` is -1)."""
    curve: list[float] = []
    for score in scores:
        curve.append(score if not curve or sign * score > sign * curve[-1] else curve[-1])
    return curve


def history_window(evaluations: Sequence[dict], size: int, sign: float = 1.0) -> list[dict]:
    """What an LLM is shown of a search: the best half of `size` evaluations, then the most recent others."""
    best = sorted(evaluations, key=lambda e: -sign * e["score"])[: (size + 1) // 2]
    return best + [e for e in reversed(evaluations) if e not in best][: size - len(best)]


def ranked(population: Sequence[Any]) -> list[Any]:
    """Scored individuals, fittest first (population order among equals)."""
    scored = [u for u in population if u.fitness is not None]
    return sorted(scored, key=lambda u: -u.fitness)


@dataclass
class Birth:
    """What became of one parent: its child, the operator that made it and what was tried on the way."""

    parent: Any
    child: Any
    operator: str  # the operator that made `child`, or COPY_OPERATOR when every attempt failed
    tried: list[str] = field(default_factory=list)
    post: list[str] = field(default_factory=list)  # post-mutation operators applied afterwards
    rejected: list[str] = field(default_factory=list)  # why a quality check turned down attempts, if one did


class Genome(ABC):
    kind: str = ""
    STATE_KEYS: tuple[str, ...] = ()
    per_example_scores: bool = False  # scores on a fixed example set, for Pareto selection

    @abstractmethod
    def create(self, ids: list[str], rng: random.Random) -> tuple[list[Any], list[tuple[str, dict[str, Any]]]]:
        ...

    @abstractmethod
    def draw_batch(self, rng: random.Random) -> Any:
        ...

    @abstractmethod
    def score(self, groups: list[tuple[list[Any], Any]], generation: int) -> None:
        ...

    @abstractmethod
    def breed(self, winners: list[Any], population: list[Any], generation: int, new_id: Callable[[], str],
              rng: random.Random) -> list[Birth]:
        ...

    @abstractmethod
    def report(self, population: Sequence[Any], generation: int) -> dict[str, Any]:
        ...

    @abstractmethod
    def format_report(self, report: dict[str, Any]) -> str:
        ...

    @abstractmethod
    def individual_from_dict(self, data: dict[str, Any]) -> Any:
        ...

    @abstractmethod
    def label(self, individual: Any) -> str:
        ...

    def report_rows(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        """The end-of-run comparison as rows {"name", "prompt" (what was bred, as text), "score"}."""
        return []

    def credit(self, operators: list[str]) -> None:
        """The operators named made a child that beat its parent at its first tournament."""

    def state(self) -> dict[str, Any]:
        return {}

    def reused_results(self) -> int:
        """Scores this run took from the run's cache instead of asking the model again."""
        return 0

    def metric_calls(self) -> int:
        """Fitness evaluations made so far in this run, continued runs included (part of the saved state):
        what `max_metric_calls` limits. Kinds whose `GenomeKind.counts_metric_calls` is False keep 0."""
        return 0

    def score_examples(self, individuals: list[Any], generation: int) -> None:
        """Score `individuals` on the fixed example set (per_example_scores genomes only)."""
        raise NotImplementedError(f"the {self.kind} genome has no per-example scores")

    def example_scores(self, individual: Any) -> list[float]:
        """`individual`'s scores on the fixed example set, one per example, in the set's order."""
        raise NotImplementedError(f"the {self.kind} genome has no per-example scores")

    def target_reached(self) -> str | None:
        """Why the run is done before its last generation because its goal is met (a text or code task's
        `stop_score`), or None. The engine asks after every step; a continued run asks again, so it ends
        at the same step."""
        return None

    def stand_in_objective(self, score: Callable[[str], float]) -> Callable[[], None] | None:
        """--dry-run: replace a scoring function that is not the model (an HPO objective, a text or code
        evaluator) by `score` of a text; return a call that runs the real one once (on the first
        evaluated individual), to time it. None: the model is the objective, nothing to replace."""
        return None

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state()` returned (keys validated by the Breeder against STATE_KEYS)."""
