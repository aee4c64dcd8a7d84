"""The generation-parameters genome (llmsearch-style): evolve how a prompt task's answers are decoded.

A unit is a decoding configuration over the task's `search_space` (the HPO space's schema, over
temperature, top_k, top_p, tfs, top_a and seed; without one, `SPACE`). It is the config genome on that
space (candidates screened by the forest surrogate, which costs no model query, unlike a fitness
evaluation); its objective is the task's fitness (the task's first seed prompt, or its description, on
one fixed batch of training examples) with the fitness queries decoded by that configuration. Every value
the LLM proposes is constrained and coerced into range, and every fitness answer goes through the run
cache, so a configuration is scored once. Stop sequences of the task's fitness decoder
(`"fitness_decoder_options": "argmax(stop=['\\n\\n'])"`) apply to every configuration.

The report adds the held-out comparison: the best configuration against the task's own fitness decoder
on the held-out examples, with a paired bootstrap interval of the difference.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Callable, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.genomes.hpo.genome import LLAMBO, ConfigGenome, ConfigUnit, format_report
from promptbreeder.genomes.hpo.regret import bootstrap_ci
from promptbreeder.genomes.hpo.space import SearchSpace
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator
from promptbreeder.genomes.prompt.split import train_heldout_split
from promptbreeder.genomes.prompt.task import Task
from promptbreeder.store.cache import CallCache

if TYPE_CHECKING:
    from promptbreeder.config import RunConfig
    from promptbreeder.genomes.kind import DayCareView

SPACE = {
    "temperature": {"type": "float", "low": 0.05, "high": 2.0, "log": True},
    "top_k": {"type": "int", "low": 1, "high": 200, "log": True},
    "top_p": {"type": "float", "low": 0.3, "high": 1.0},
    "tfs": {"type": "float", "low": 0.3, "high": 1.0},
    "top_a": {"type": "float", "low": 0.0, "high": 0.5},
    "seed": {"type": "int", "low": 0, "high": 9999},
}
# what a task's space may search, each value's valid range, and the value a space that leaves it out keeps
DECODING_PARAMETERS: dict[str, tuple[Callable[[float], bool], bool, str, float]] = {
    "temperature": (lambda v: 0 <= v <= 10, False, "a number in [0, 10] (0 decodes greedily)", 1.0),
    "top_k": (lambda v: v >= 0, True, "an integer >= 0 (0 turns top-k off)", 0),
    "top_p": (lambda v: 0 < v <= 1, False, "a number in (0, 1] (1 turns top-p off)", 1.0),
    "tfs": (lambda v: 0 < v <= 1, False, "a number in (0, 1] (1 turns tail-free sampling off)", 1.0),
    "top_a": (lambda v: 0 <= v <= 1, False, "a number in [0, 1] (0 turns top-a off)", 0.0),
    "seed": (lambda v: v >= 0, True, "an integer >= 0", 0),
}


def space_problem(space: SearchSpace) -> tuple[list[str], str] | None:
    """(JSON path parts under search_space, what was expected) for the first parameter a decoder cannot take."""
    for param in space.params:
        if param.name not in DECODING_PARAMETERS:
            return [param.name], f"expected a decoding parameter: one of {', '.join(DECODING_PARAMETERS)}"
        valid, integer, expected, _ = DECODING_PARAMETERS[param.name]
        if param.kind == "categorical":
            for i, choice in enumerate(param.choices):
                number = isinstance(choice, (int, float)) and not isinstance(choice, bool)
                if not number or not valid(choice) or (integer and not float(choice).is_integer()):
                    return [param.name, "choices", i], f"expected {expected} (got {choice!r})"
            continue
        if integer and param.kind != "int":
            return [param.name, "type"], f"expected \"int\" for {param.name} (got {param.kind!r})"
        for bound in ("low", "high"):
            if not valid(getattr(param, bound)):
                return [param.name, bound], f"expected {expected} (got {getattr(param, bound)!r})"
    return None


def decoder_for(config: dict[str, Any], stop: tuple[str, ...] = ()) -> DecoderOptions:
    """The fitness decoder of a configuration; a parameter it lacks keeps its neutral value."""
    value = {name: config.get(name, neutral) for name, (_, _, _, neutral) in DECODING_PARAMETERS.items()}
    return DecoderOptions.from_settings(value["temperature"], value["top_k"], value["top_p"], value["tfs"],
                                        value["top_a"], stop=stop)


def seed_of(config: dict[str, Any]) -> int:
    return int(config.get("seed", DECODING_PARAMETERS["seed"][3]))


class GenerationGenome(ConfigGenome):
    """The config genome whose report also compares the best decoder with the task's on held-out data."""

    def __init__(self, *args: Any, compare: Callable[[dict[str, Any]], dict[str, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.compare = compare

    def report(self, population: Sequence[ConfigUnit], generation: int) -> dict[str, Any]:
        report = super().report(population, generation)
        if report["best"] is not None:
            report["heldout"] = self.compare(report["best"]["config"])
        return report

    def format_report(self, report: dict[str, Any]) -> str:
        return format_generation_report(report, self.space.format_config)

    def report_rows(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        rows = super().report_rows(report)
        for row in (report.get("heldout") or {}).get("rows", []):
            rows.append({"name": f"held-out: {row['name']}", "prompt": row["decoder"], "score": row["score"]})
        return rows


def format_generation_report(report: dict[str, Any], format_config: Callable[[dict], str]) -> str:
    lines = [format_report(report, format_config)]
    heldout = report.get("heldout")
    if heldout and heldout["examples"]:
        lines.append(f"held-out comparison on {heldout['examples']} examples (prompt {heldout['prompt']!r}):")
        for row in heldout["rows"]:
            lines.append(f"  {row['score']:.3f}  {row['name']}: {row['decoder']}")
        d = heldout["difference"]
        lines.append(f"  best - task's decoder: {d['mean']:+.3f} (95% CI {d['low']:+.3f} to {d['high']:+.3f},"
                     " paired bootstrap over examples)")
    elif heldout is not None:
        lines.append("held-out comparison: no held-out examples (the suite is too small to keep any back)")
    return "\n".join(lines)


def generation_genome(config: "RunConfig", day_care: "DayCareView", task: Task, backend: Backend,
                      cache: CallCache | None = None) -> GenerationGenome:
    scorer = day_care.build_scorer(task, backend)
    train, heldout = train_heldout_split(task.load_suite(config.fitness_test_suite), config.heldout_fraction,
                                         config.seed)
    batch = random.Random(f"generation:{config.seed}").sample(train, min(config.fitness_batch_size, len(train)))
    prompt = Candidate(task.seed_prompts[0] if task.seed_prompts else task.description)
    variant = config.fitness_variants[0]
    stop = task.fitness_decoder.stop  # the task's stop sequences hold whatever the sampling parameters

    def fitness(decoder: DecoderOptions, seed: int | None, examples: list[dict]):
        evaluator = FitnessEvaluator(day_care, task, backend, scorer, decoder=decoder, seed=seed, cache=cache,
                                     model=config.model_identity, reasoning_max_tokens=config.reasoning_max_tokens)
        return evaluator.evaluate([prompt], examples, variant)[0]

    def objective(params: dict[str, Any]) -> float:
        return fitness(decoder_for(params, stop), seed_of(params), batch).fitness

    def compare(best: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for name, decoder, seed, chosen in [("best configuration", decoder_for(best, stop), seed_of(best), best),
                                            ("the task's fitness decoder", task.fitness_decoder, None, None)]:
            result = fitness(decoder, seed, heldout) if heldout else None
            rows.append({"name": name, "decoder": decoder.to_lmql(), "seed": seed, "config": chosen,
                         "score": result.fitness if result else None,
                         "scores": result.scores if result else [], "answers": result.answers if result else []})
        mean = low = high = None
        if heldout:
            mean, low, high = bootstrap_ci([b - d for b, d in zip(rows[0]["scores"], rows[1]["scores"])],
                                           rng_seed=config.seed)
        return {"examples": len(heldout), "prompt": prompt.task_prompt, "variant": variant, "rows": rows,
                "difference": {"mean": mean, "low": low, "high": high}}

    space = SearchSpace.from_spec(task.search_space or SPACE, root="$.search_space")
    description = (f"Choose decoding parameters (sampling) for a language model answering this task: "
                   f"{task.description} The score is the fraction of {len(batch)} questions answered right"
                   f" with the prompt {prompt.task_prompt!r}.")
    return GenerationGenome(config, description, space, objective, backend=backend,
                            query_text=lambda name: day_care.query_text(name, task.name), decoder=task.decoder,
                            options=LLAMBO, objective_asks_model=True, compare=compare)
