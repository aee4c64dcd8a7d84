"""The generation genome's registry entry: decoding parameters evolved on a prompt task folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptbreeder.backends.base import Backend, QueryRequest
from promptbreeder.config import RunConfig
from promptbreeder.genomes.base import Genome
from promptbreeder.genomes.hpo.kind import HpoKind, _format_config, _space_or_none
from promptbreeder.genomes.kind import DayCareView
from promptbreeder.genomes.prompt.evaluator import ANSWER_HOLE
from promptbreeder.genomes.prompt.task import Task
from promptbreeder.jsonio import fail, json_path
from promptbreeder.store.cache import CallCache
from promptbreeder.genomes.prompt.kind import PROMPT


class GenerationKind(HpoKind):
    """Its units are configurations like the HPO genome's; its task folder is a prompt task's."""

    name = "generation"
    counts_metric_calls = False  # a configuration's evaluation scores many examples: no GEPA-comparable count

    def load_task(self, task_dir: Path, data: Any, file: Path) -> Task:
        from promptbreeder.genomes.generation.genome import space_problem
        from promptbreeder.genomes.hpo.space import SearchSpace, SearchSpaceError

        task = PROMPT.load_task(task_dir, data, file)
        if task.search_space is not None:
            try:
                problem = space_problem(SearchSpace.from_spec(task.search_space, root="$.search_space"))
            except SearchSpaceError as exc:
                raise fail(file, exc.path, exc.message) from None
            if problem is not None:
                raise fail(file, json_path(problem[0], "$.search_space"), problem[1])
        return task

    def build(self, config: RunConfig, day_care: DayCareView, task: Task, backend: Backend,
              cache: CallCache | None = None) -> Genome:
        from promptbreeder.genomes.generation.genome import generation_genome

        return generation_genome(config, day_care, task, backend, cache)

    def size(self, task: Task) -> int:
        return PROMPT.size(task)

    def check_config(self, config: RunConfig, task: Task) -> None:
        task.load_suite(config.fitness_test_suite)  # every example, before anything is made (kept for the run)

    def plausible_value(self, hole: str, request: QueryRequest, variety: int) -> str:
        if hole == ANSWER_HOLE:  # the fitness queries that score its configurations
            return PROMPT.plausible_value(hole, request, variety)
        return super().plausible_value(hole, request, variety)

    def saved_space(self, task_data: dict[str, Any] | None) -> Any:
        from promptbreeder.genomes.generation.genome import SPACE

        return _space_or_none((task_data or {}).get("search_space") or SPACE)

    def format_saved_report(self, report: dict[str, Any], space: Any) -> str:
        from promptbreeder.genomes.generation.genome import format_generation_report

        return format_generation_report(report, _format_config(space))


GENERATION = GenerationKind()
