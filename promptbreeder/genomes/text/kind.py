"""The text and code genomes' registry entries: one candidate text (or program) improved by the LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptbreeder.backends.base import Backend, QueryRequest
from promptbreeder.config import RunConfig
from promptbreeder.genomes.base import Genome
from promptbreeder.genomes.kind import DayCareView, GenomeKind
from promptbreeder.genomes.text.task import TextTask, load_text_task
from promptbreeder.store.cache import CallCache


class TextKind(GenomeKind):
    unit_fields = ("text",)
    counts_metric_calls = True  # one evaluation of a candidate each

    def __init__(self, name: str):
        self.name = name  # "text" or "code": code candidates run only in the sandbox

    def load_task(self, task_dir: Path, data: Any, file: Path) -> TextTask:
        return load_text_task(task_dir, data, file)

    def build(self, config: RunConfig, day_care: DayCareView, task: TextTask, backend: Backend,
              cache: CallCache | None = None) -> Genome:
        from promptbreeder.genomes.text.genome import TextGenome

        sandbox = self.sandbox(config)
        evaluate = task.evaluate_function(backend, lambda t, b: day_care.build_scorer_spec(t.rubric_spec, t.name, b),
                                          allow_weak_sandbox=config.allow_weak_sandbox)
        return TextGenome(config, task.description, task.question, evaluate, task.x0, backend=backend,
                          kind=task.genome, query_text=lambda name: day_care.query_text(name, task.name),
                          decoder=config.decoder_override or task.decoder, history_window=task.history_window,
                          max_solution_tokens=task.max_solution_tokens, stop_score=task.stop_score, sandbox=sandbox)

    def sandbox(self, config: RunConfig) -> str | None:
        """Code: the isolation its candidates will run under; SandboxUnavailable (one line) when bubblewrap
        cannot run here and the user did not pass --allow_weak_sandbox. Text runs no code: None."""
        if self.name != "code":
            return None
        from promptbreeder.sandbox import isolation_in_use

        return isolation_in_use(config.allow_weak_sandbox)

    def check_config(self, config: RunConfig, task: TextTask) -> None:
        self.sandbox(config)  # before a run folder exists or a model loads

    def size(self, task: TextTask) -> int:
        return 1  # the starting candidate

    def plausible_value(self, hole: str, request: QueryRequest, variety: int) -> str:
        if hole == "SOLUTION":  # the whole new candidate: the current one, changed a little
            return f"{request.inputs.get('current', '')} # variant {variety}\n"
        return super().plausible_value(hole, request, variety)

    def unit_text(self, unit: dict[str, Any], space: Any) -> str:
        return str(unit.get("text", ""))

    def format_saved_report(self, report: dict[str, Any], space: Any) -> str:
        from promptbreeder.genomes.text.genome import format_report

        return format_report(report)


TEXT = TextKind("text")
CODE = TextKind("code")
