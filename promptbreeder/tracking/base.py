"""The tracker contract. The engine calls, in order:

- `start(run: RunInfo)` once per process (a continued run starts again with the same `run.id`);
- `generation(generation, total, summary, population)` after every completed generation, where
  `summary` holds at least "best" and "mean" fitness and "operator_stats" (and, with calculate_entropy,
  "fitness_entropy" and "mutation_entropy"), and `population` is a list
  of rows {"id", "prompt", "fitness", "operator", "parent"};
- `heldout(comparison)` once, with rows {"name", "prompt", "score"} scored on the held-out split;
- `figures(paths)` once, after the report, with the report's PNG figures by name (only with wandb on:
  drawing them costs a second or two);
- `finish()`.
Trackers never raise into the run: a tracker that fails disables itself and says so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    id: str  # stable across continues, e.g. "arithmetic-run3-1a2b3c"
    task: str
    number: int
    folder: str
    config: dict[str, Any]
    start_generation: int


class Tracker:
    def start(self, run: RunInfo) -> None:
        pass

    def generation(self, generation: int, total: int, summary: dict[str, Any], population: list[dict[str, Any]]) -> None:
        pass

    def heldout(self, comparison: list[dict[str, Any]]) -> None:
        pass

    def figures(self, paths: dict[str, str]) -> None:
        pass

    def finish(self) -> None:
        pass


class Trackers(Tracker):
    """Fans every call out to several trackers."""

    def __init__(self, *trackers: Tracker):
        self.trackers = list(trackers)

    def start(self, run):
        for t in self.trackers:
            t.start(run)

    def generation(self, generation, total, summary, population):
        for t in self.trackers:
            t.generation(generation, total, summary, population)

    def heldout(self, comparison):
        for t in self.trackers:
            t.heldout(comparison)

    def figures(self, paths):
        for t in self.trackers:
            t.figures(paths)

    def finish(self):
        for t in self.trackers:
            t.finish()
