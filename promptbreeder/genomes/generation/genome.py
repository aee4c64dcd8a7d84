"""The generation-parameters genome (llmsearch-style): evolve how a prompt task's answers are decoded.

A unit is a decoding configuration: temperature, top_k, top_p, tail-free sampling's z, top-a and the
generation seed. It is the config genome on this search space (candidates screened by the forest
surrogate, which costs no model query, unlike a fitness evaluation); its objective is the task's fitness
(the task's first seed prompt, or its description, on one fixed batch of training examples) with the
fitness queries decoded by `sample(...)` with those parameters and that seed. Every value the LLM
proposes is constrained and coerced into range, and every fitness answer goes through the run cache,
so a configuration is scored once. Stop sequences of the task's fitness decoder
(`"fitness_decoder_options": "argmax(stop=['\\n\\n'])"`) apply to every configuration.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.genomes.prompt.split import train_heldout_split
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator
from promptbreeder.genomes.hpo.genome import ConfigGenome, ConfigOptions
from promptbreeder.genomes.hpo.space import SearchSpace
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


def decoder_for(config: dict[str, Any], stop: tuple[str, ...] = ()) -> DecoderOptions:
    decoder = DecoderOptions(method="sample", temperature=float(config["temperature"]), top_k=int(config["top_k"]),
                             top_p=float(config["top_p"]), tfs=float(config["tfs"]), top_a=float(config["top_a"]),
                             stop=stop)
    decoder.validate()
    return decoder


def generation_genome(config: "RunConfig", day_care: "DayCareView", task: Task, backend: Backend,
                      cache: CallCache | None = None) -> ConfigGenome:
    scorer = day_care.build_scorer(task, backend)
    train, _ = train_heldout_split(task.load_suite(config.fitness_test_suite), config.heldout_fraction, config.seed)
    batch = random.Random(f"generation:{config.seed}").sample(train, min(config.fitness_batch_size, len(train)))
    prompt = Candidate(task.seed_prompts[0] if task.seed_prompts else task.description)
    variant = config.fitness_variants[0]
    stop = task.fitness_decoder.stop  # the task's stop sequences hold whatever the sampling parameters

    def objective(params: dict[str, Any]) -> float:
        evaluator = FitnessEvaluator(day_care, task, backend, scorer, decoder=decoder_for(params, stop),
                                     seed=int(params["seed"]), cache=cache, model=config.model_identity,
                                     reasoning_max_tokens=config.reasoning_max_tokens)
        return evaluator.evaluate([prompt], batch, variant)[0].fitness

    description = (f"Choose decoding parameters (sampling) for a language model answering this task: "
                   f"{task.description} The score is the fraction of {len(batch)} questions answered right"
                   f" with the prompt {prompt.task_prompt!r}.")
    return ConfigGenome(config, description, SearchSpace.from_spec(SPACE), objective, backend=backend,
                        query_text=lambda name: day_care.query_text(name, task.name), decoder=task.decoder,
                        options=ConfigOptions(num_candidates=2), objective_asks_model=True)
