"""The HPO genome's registry entry (`"genome": "config"`): LLAMBO-style search over a task's search space."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptbreeder.backends.base import Backend, QueryRequest
from promptbreeder.config import RunConfig
from promptbreeder.errors import ConfigError
from promptbreeder.genomes.base import Genome
from promptbreeder.genomes.kind import DayCareView, GenomeKind
from promptbreeder.store.cache import CallCache

if TYPE_CHECKING:
    from promptbreeder.genomes.hpo.task import ConfigTask  # sklearn and optuna: only for HPO tasks


def _format_config(space: Any):
    return space.format_config if space is not None else (lambda config: json.dumps(config, default=repr))


class HpoKind(GenomeKind):
    name = "config"  # the task folders' spelling since the first HPO tasks
    configurations = True
    unit_fields = ("config",)
    counts_metric_calls = True  # one evaluation of the objective each

    def load_task(self, task_dir: Path, data: Any, file: Path) -> ConfigTask:
        from promptbreeder.genomes.hpo.task import load_config_task  # sklearn and optuna: only for HPO tasks

        return load_config_task(task_dir, data, file)

    def build(self, config: RunConfig, day_care: DayCareView, task: ConfigTask, backend: Backend,
              cache: CallCache | None = None) -> Genome:
        from promptbreeder.genomes.hpo.genome import ConfigGenome

        return ConfigGenome(config, task.description, task.space, task.objective, backend=backend,
                            query_text=lambda name: day_care.query_text(name, task.name), direction=task.direction,
                            decoder=config.decoder_override or task.decoder, options=_options(config, task))

    def check_config(self, config: RunConfig, task: ConfigTask) -> None:
        _options(config, task)

    def size(self, task: ConfigTask) -> int:
        return len(task.space)

    def plausible_value(self, hole: str, request: QueryRequest, variety: int) -> str:
        if hole.startswith("P") and hole[1:].isdigit():  # value i of a configuration: P<i>, a choice or a number
            options = request.inputs.get(f"choices_{hole[1:]}")
            return str(options[variety % len(options)]) if options else f"{1 + variety % 9}\n"
        return super().plausible_value(hole, request, variety)

    def saved_space(self, task_data: dict[str, Any] | None) -> Any:
        return _space_or_none((task_data or {}).get("search_space"))

    def unit_text(self, unit: dict[str, Any], space: Any) -> str:
        return _format_config(space)(unit.get("config", {}))

    def format_saved_report(self, report: dict[str, Any], space: Any) -> str:
        from promptbreeder.genomes.hpo.genome import format_report

        return format_report(report, _format_config(space))


def _options(config: RunConfig, task: ConfigTask) -> Any:
    """The task folder's config_options with the flags that are given over them; a ConfigError when a flag
    makes them unusable together (the task file's own were checked when it was loaded)."""
    flags = {name: getattr(config, name) for name in ("acq_strategy", "surrogate", "sampler") if getattr(config, name)}
    shown = dict(flags)
    if flags.get("sampler") == "none":  # the flag's word for "no sampler": the LLM/GA proposals
        flags["sampler"] = None
    options = dataclasses.replace(task.options, **flags)
    problem = options.problem()
    if problem:
        raise ConfigError(f"{', '.join(f'--{k} {v}' for k, v in shown.items())}: task {task.name}'s"
                          f" config_options.{problem[0]} must be {problem[1]}")
    return options


def _space_or_none(spec: Any) -> Any:
    """The SearchSpace of a saved run (bounds and log scales for normalising), or None for an edited or
    missing task folder: reports then normalise by the ranges the run saw."""
    from promptbreeder.genomes.hpo.space import SearchSpace, SearchSpaceError

    try:
        return SearchSpace.from_spec(spec) if spec else None
    except (SearchSpaceError, TypeError, ValueError):
        return None


HPO = HpoKind()
