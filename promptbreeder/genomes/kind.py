"""The genome-kind contract: everything the rest of the package needs to know about one kind of genome.

A task folder names its kind (`"genome"` in task_description.json, default `"prompt"`); the registry
(`genomes/registry.py`) maps that name to one `GenomeKind`, and nothing else switches on the name:

- `load_task(task_dir, data, file)` — validate the parsed task_description.json and the files it names;
  return the kind's task object (it satisfies `TaskFolder`). A problem is a one-line `DayCareError`
  naming the file, the JSON path and what was expected.
- `build(config, day_care, task, backend, cache)` — the `Genome` the Breeder runs. `day_care` gives the
  query texts, prompts and scorers (`DayCareView`); `cache` is the run's call cache where fitness
  results are kept (None: nothing remembered).
- `size(task)` — what `DayCare.validate()` reports for the task: examples, parameters or candidates.
- `check_config(config, task)` — refuse settings the task cannot run with (one-line typed error), before
  a run folder exists or a model loads; by default every setting fits.
- `plausible_reply(request)` — for --dry-run: a reply to one of the kind's queries that the query
  accepts (an answer, a prompt, a configuration value, a grade, a solution), varied by the request's seed.
- Reading a saved run back without a model (`reporting/`): `recognises(unit)` tells a saved unit of this
  kind; `saved_space(task_data)` the search space its units are points of, if any; `unit_text(unit,
  space)` what was bred, as text; `format_saved_report(report, space)` the text the run printed at its
  end, from report.json. `configurations` says the units are points of a search space (reports then
  normalise distances by the space and honour the task's `direction`).

Adding a kind: a package `genomes/<kind>/` with its genome, its task loader and one `GenomeKind`
subclass in `kind.py`, plus one line in `genomes/registry.py` (docs/architecture.md shows the steps).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest, query_holes
from promptbreeder.config import RunConfig
from promptbreeder.genomes.base import Genome
from promptbreeder.scorers.base import Scorer
from promptbreeder.scorers.rubric import SCORE_HOLE
from promptbreeder.store.cache import CallCache

TASK_FILE = "task_description.json"  # every task folder has one; its "genome" names the kind


class TaskFolder(Protocol):
    """What every kind's task has: its folder, name, kind, description and the decoder of its mutations."""

    name: str
    dir: Path
    genome: str
    description: str
    decoder: DecoderOptions


class NamedText(Protocol):
    text: str


class DayCareView(Protocol):
    """What a genome may ask of the day care its task comes from."""

    mutation_prompts: Sequence[NamedText]
    thinking_styles: Sequence[NamedText]

    def query_text(self, name: str, task: str | None = None) -> str: ...

    def build_scorer(self, task: TaskFolder, backend: Backend | None = None) -> Scorer: ...

    def build_scorer_spec(self, spec: dict[str, Any], task_name: str, backend: Backend | None = None) -> Scorer: ...


class GenomeKind(ABC):
    name: str = ""
    configurations: bool = False
    unit_fields: tuple[str, ...] = ()  # keys every saved unit of this kind has (see `recognises`)
    counts_metric_calls: bool = False  # whether its genome counts fitness evaluations (`max_metric_calls`)
    per_example_scores: bool = False  # whether its genome scores on a fixed example set (`selection: pareto`)
    second_objectives: tuple[str, ...] = ()  # the `second_objective` values its genome weighs

    @abstractmethod
    def load_task(self, task_dir: Path, data: Any, file: Path) -> TaskFolder:
        ...

    @abstractmethod
    def build(self, config: RunConfig, day_care: DayCareView, task: TaskFolder, backend: Backend,
              cache: CallCache | None = None) -> Genome:
        ...

    @abstractmethod
    def size(self, task: TaskFolder) -> int:
        ...

    def check_config(self, config: RunConfig, task: TaskFolder) -> None:
        """Refuse, with a typed error naming the file and field, settings this task cannot run with; called
        before a run folder exists. Default: every setting fits."""

    def plausible_reply(self, request: QueryRequest) -> dict[str, str]:
        variety = (request.seed or 0) % 997
        return {hole: self.plausible_value(hole, request, variety) for hole in query_holes(request.query)}

    def plausible_value(self, hole: str, request: QueryRequest, variety: int) -> str:
        """One hole's reply; kinds answer their own holes and leave the rest to this default: a grade for
        the rubric scorer, a usable instruction for everything else (prompts, mutation prompts)."""
        if hole == SCORE_HOLE:
            return str(variety % 10)
        return f"Read the question twice, variant {variety}, then answer with care.\n"

    def recognises(self, unit: dict[str, Any]) -> bool:
        return bool(self.unit_fields) and all(key in unit for key in self.unit_fields)

    def saved_space(self, task_data: dict[str, Any] | None) -> Any:
        return None

    @abstractmethod
    def unit_text(self, unit: dict[str, Any], space: Any) -> str:
        ...

    @abstractmethod
    def format_saved_report(self, report: dict[str, Any], space: Any) -> str:
        ...
