"""The prompt genome's registry entry: PromptBreeder units bred on a prompt task folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptbreeder.backends.base import Backend, QueryRequest
from promptbreeder.config import RunConfig
from promptbreeder.genomes.base import Genome
from promptbreeder.genomes.kind import TASK_FILE, DayCareView, GenomeKind
from promptbreeder.genomes.prompt.evaluator import ANSWER_HOLE
from promptbreeder.genomes.prompt.task import Task, load_prompt_task
from promptbreeder.jsonio import fail
from promptbreeder.store.cache import CallCache


class PromptKind(GenomeKind):
    name = "prompt"
    unit_fields = ("task_prompts",)
    counts_metric_calls = True
    per_example_scores = True
    second_objectives = ("prompt_tokens",)

    def load_task(self, task_dir: Path, data: Any, file: Path) -> Task:
        return load_prompt_task(task_dir, data, file)

    def build(self, config: RunConfig, day_care: DayCareView, task: Task, backend: Backend,
              cache: CallCache | None = None) -> Genome:
        from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
        from promptbreeder.genomes.prompt.genome import PromptGenome  # the operators: only when a run starts

        evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task, backend),
                                     decoder=config.decoder_override, seed=config.seed, cache=cache,
                                     model=config.model_identity, reasoning_max_tokens=config.reasoning_max_tokens,
                                     choice_by_likelihood=config.choice_by_likelihood,
                                     explain=config.reflective_mutation)
        return PromptGenome(config, task.description, mutation_prompts=[p.text for p in day_care.mutation_prompts],
                            thinking_styles=[p.text for p in day_care.thinking_styles],
                            suite=task.load_suite(config.fitness_test_suite), backend=backend, evaluator=evaluator,
                            query_text=lambda name: day_care.query_text(name, task.name),
                            mutation_decoder=task.decoder, seed_prompts=task.seed_prompts)

    def check_config(self, config: RunConfig, task: Task) -> None:
        task.load_suite(config.fitness_test_suite)  # every example, before anything is made (kept for the run)
        if config.breed_system_prompt and task.fixed_system_prompt:
            # the original's rule: a fixed system prompt is used instead of bred ones; breeding one while the
            # task fixes it would silently do nothing, or silently overrule the task
            raise fail(task.dir / TASK_FILE, "$.fixed_system_prompt", "expected null with --breed_system_prompt"
                       " (this task fixes its system prompt; set it to null to breed one, or breed without the flag)")

    def plausible_value(self, hole: str, request: QueryRequest, variety: int) -> str:
        if hole == ANSWER_HOLE:  # a fitness answer: one of the example's choices, or a digit
            choices = request.inputs.get("choices") or []
            return str(choices[variety % len(choices)]) if choices else str(variety % 10)
        return super().plausible_value(hole, request, variety)

    def size(self, task: Task) -> int:
        return len(task.load_suite())

    def unit_text(self, unit: dict[str, Any], space: Any) -> str:
        from promptbreeder.genomes.prompt.report import prompt_line

        return prompt_line(unit.get("task_prompts", []), unit.get("system_prompt"))  # as the dashboard rows show it

    def format_saved_report(self, report: dict[str, Any], space: Any) -> str:
        from promptbreeder.genomes.prompt.report import format_report

        return format_report(report)


PROMPT = PromptKind()
