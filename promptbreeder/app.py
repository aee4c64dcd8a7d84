"""What `python -m promptbreeder` does with a resolved `RunConfig`.

Until the breeder lands, a run builds the initial population from the task's seed prompts, scores
every unit on the real model with the task's fitness test, and prints the scores.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

from promptbreeder.backends import DecoderOptions, create_backend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import Task, load_day_care
from promptbreeder.errors import RunError, UsageError
from promptbreeder.fitness.evaluator import Candidate, FitnessEvaluator, FitnessResult


@dataclass
class ScoredUnit:
    index: int
    candidate: Candidate
    results: dict[str, FitnessResult]


def initial_candidates(task: Task, config: RunConfig, rng: random.Random) -> list[Candidate]:
    """One candidate per unit from the task's seed prompts: shuffled, then dealt out in turn.

    With two prompts per unit, the second goes after the question (PromptBreeder's P1 + Q + P2).
    """
    pool = list(task.seed_prompts)
    rng.shuffle(pool)
    candidates = []
    for unit in range(config.population_size):
        prompts = [pool[(unit * config.initial_prompts_per_unit + j) % len(pool)] for j in range(config.initial_prompts_per_unit)]
        after = prompts[1] if len(prompts) > 1 and prompts[1] != prompts[0] else ""
        candidates.append(Candidate(task_prompt=prompts[0], task_prompt_after=after))
    return candidates


def _check_supported(config: RunConfig) -> None:
    if config.evolution_generations > 0:
        raise UsageError(
            "this version scores the initial population only; evolution is not available yet:"
            " use --evolution_generations 0 (or --config smoke)"
        )
    if config.continue_run_number is not None:
        raise UsageError("there are no stored runs to continue yet: runs are stored once evolution is available")


def run(config: RunConfig, out=sys.stdout) -> int:
    _check_supported(config)
    day_care = load_day_care(config.day_care_dir)
    task = day_care.task(config.task)
    suite = task.load_suite(config.fitness_test_suite)
    rng = random.Random(config.seed)
    candidates = initial_candidates(task, config, rng)
    examples = rng.sample(suite, min(config.fitness_batch_size, len(suite)))
    decoder = DecoderOptions.parse(config.decoder_options_override) if config.decoder_options_override else None
    variants = [name for name, on in (("noCoT", config.test_noCoT), ("CoT", config.test_CoT)) if on]

    print(f"task {task.name}: {len(candidates)} units, {len(examples)} of {len(suite)} examples,"
          f" variants {', '.join(variants)}, model {config.model_name_or_path}", file=out, flush=True)
    started = time.perf_counter()
    with create_backend(config) as backend:
        scorer = day_care.build_scorer(task, backend)
        evaluator = FitnessEvaluator(day_care, task, backend, scorer, decoder=decoder, seed=config.seed)
        scored = [ScoredUnit(i, c, {}) for i, c in enumerate(candidates)]
        for variant in variants:
            for unit, result in zip(scored, evaluator.evaluate(candidates, examples, variant)):
                unit.results[variant] = result
        usage = backend.usage
    if usage.calls and usage.failed_calls == usage.calls:
        first = next(r.first_error for u in scored for r in u.results.values() if r.first_error)
        raise RunError(f"every one of {usage.calls} queries failed; the first with: {first}")
    print_scores(scored, variants, out)
    print(f"{usage.calls} queries, {usage.generated_tokens} generated tokens, {usage.failed_calls} failed,"
          f" {time.perf_counter() - started:.1f} s", file=out)
    return 0


def print_scores(scored: list[ScoredUnit], variants: list[str], out) -> None:
    header = "unit  " + "  ".join(f"{v:>6}" for v in variants) + "  prompt"
    print(header, file=out)
    for unit in sorted(scored, key=lambda u: -max(u.results[v].fitness for v in variants)):
        fitness = "  ".join(f"{unit.results[v].fitness:6.3f}" for v in variants)
        prompt = unit.candidate.task_prompt + (f" … {unit.candidate.task_prompt_after}" if unit.candidate.task_prompt_after else "")
        print(f"{unit.index:>4}  {fitness}  {prompt}", file=out)
