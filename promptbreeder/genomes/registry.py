"""Genome kinds by name (`"genome"` in task_description.json); unknown names list what exists.

One line per kind: its `GenomeKind` entry (see `genomes/kind.py` for the contract). The loader, the app,
--dry-run and the reports ask the entry; nothing else switches on a kind's name.
"""

from __future__ import annotations

from typing import Any, Sequence

from promptbreeder.backends.base import Backend
from promptbreeder.config import RunConfig
from promptbreeder.errors import UsageError
from promptbreeder.genomes.base import Genome
from promptbreeder.genomes.generation.kind import GENERATION
from promptbreeder.genomes.hpo.kind import HPO
from promptbreeder.genomes.kind import DayCareView, GenomeKind, TaskFolder
from promptbreeder.genomes.prompt.kind import PROMPT
from promptbreeder.genomes.text.kind import CODE, TEXT
from promptbreeder.store.cache import CallCache

KINDS: dict[str, GenomeKind] = {kind.name: kind for kind in (PROMPT, HPO, GENERATION, CODE, TEXT)}


def genome_kind(name: str) -> GenomeKind:
    if name not in KINDS:
        raise UsageError(f"genome {name!r}; available genomes: {', '.join(KINDS)}")
    return KINDS[name]


def build_genome(config: RunConfig, day_care: DayCareView, task: TaskFolder, backend: Backend,
                 cache: CallCache | None = None) -> Genome:
    """The genome the Breeder runs for `task`, its fitness results kept in `cache` (the run's)."""
    try:
        kind = genome_kind(getattr(task, "genome", PROMPT.name))
    except UsageError as exc:
        raise UsageError(f"task {task.name}: {exc}") from None
    return kind.build(config, day_care, task, backend, cache)


def saved_kind(population: Sequence[dict[str, Any]], declared: str | None) -> GenomeKind:
    """The kind of a saved run: the one its task (or report) declares when its units fit it, else the
    first kind that recognises them (a run whose task folder is gone), else the prompt genome."""
    unit = population[0] if population else {}
    if declared in KINDS and (not unit or KINDS[declared].recognises(unit)):
        return KINDS[declared]
    return next((kind for kind in KINDS.values() if kind.recognises(unit)), PROMPT)
