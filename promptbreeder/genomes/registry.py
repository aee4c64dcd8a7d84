"""Genome kinds by name (`"genome"` in task_description.json); unknown names list what exists.

A builder gets the run's config, day care, task and backend and returns the genome the Breeder runs.
"""

from __future__ import annotations

from typing import Any, Callable

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.errors import UsageError
from promptbreeder.genomes.base import Genome


def _prompt(config: Any, day_care: Any, task: Any, backend: Backend) -> Genome:
    from promptbreeder.fitness.evaluator import FitnessEvaluator
    from promptbreeder.genomes.prompt import PromptGenome

    override = DecoderOptions.parse(config.decoder_options_override) if config.decoder_options_override else None
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task, backend), decoder=override,
                                 seed=config.seed, cache=getattr(backend, "cache", None),
                                 model=config.model_name_or_path)
    return PromptGenome(config, task.description, mutation_prompts=[p.text for p in day_care.mutation_prompts],
                        thinking_styles=[p.text for p in day_care.thinking_styles],
                        suite=task.load_suite(config.fitness_test_suite), backend=backend, evaluator=evaluator,
                        query_text=lambda name: day_care.query_text(name, task.name), mutation_decoder=task.decoder,
                        seed_prompts=task.seed_prompts)


def _config(config: Any, day_care: Any, task: Any, backend: Backend) -> Genome:
    from promptbreeder.genomes.config import ConfigGenome

    decoder = DecoderOptions.parse(config.decoder_options_override) if config.decoder_options_override else task.decoder
    return ConfigGenome(config, task.description, task.space, task.objective, backend=backend,
                        query_text=lambda name: day_care.query_text(name, task.name), direction=task.direction,
                        decoder=decoder, options=task.options)


def _text(config: Any, day_care: Any, task: Any, backend: Backend) -> Genome:
    from promptbreeder.genomes.text import TextGenome

    decoder = DecoderOptions.parse(config.decoder_options_override) if config.decoder_options_override else task.decoder
    evaluate = task.evaluate_function(backend, lambda t, b: day_care.build_scorer_spec(t.rubric_spec, t.name, b))
    return TextGenome(config, task.description, task.question, evaluate, task.x0, backend=backend, kind=task.genome,
                      query_text=lambda name: day_care.query_text(name, task.name), decoder=decoder,
                      history_window=task.history_window, max_solution_tokens=task.max_solution_tokens)


def _generation(config: Any, day_care: Any, task: Any, backend: Backend) -> Genome:
    from promptbreeder.genomes.generation import generation_genome

    return generation_genome(config, day_care, task, backend)


GENOMES: dict[str, Callable[[Any, Any, Any, Backend], Genome]] = {
    "prompt": _prompt, "config": _config, "text": _text, "code": _text, "generation": _generation}
PLANNED: tuple[str, ...] = ()  # kinds the task schema accepts before they can be built


def build_genome(config: Any, day_care: Any, task: Any, backend: Backend) -> Genome:
    kind = getattr(task, "genome", "prompt")
    if kind not in GENOMES:
        later = " (planned, not available yet)" if kind in PLANNED else ""
        raise UsageError(f"task {task.name}: genome {kind!r}{later}; available genomes: {', '.join(GENOMES)}")
    return GENOMES[kind](config, day_care, task, backend)
