"""The PromptBreeder genome (Fernando et al. 2023): units of task prompts evolved by LLM operators.

Creation: each unit draws a mutation prompt and a thinking style; the "init" operator writes its
`initial_prompts_per_unit` task prompts from the task description (all units in one backend call).
Scoring: fitness queries over a batch of training examples (the same batch for both units of a
tournament), mean over the enabled variants (noCoT / CoT). Breeding: a mutation operator per child,
drawn uniformly or by a bandit on the operator statistics (`operator_selection`); all children in one
backend call, a failed one retried once with another operator, then a copy; then crossover / context
shuffling for 10% of children. Report: the best units against the baselines on the held-out split.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.config import RunConfig
from promptbreeder.genomes.prompt.mutation import Mutator, OperatorSource
from promptbreeder.genomes.prompt.report import format_report, heldout_report, prompt_line
from promptbreeder.genomes.prompt.scoring import candidate, evaluate_groups, score_units
from promptbreeder.genomes.prompt.split import train_heldout_split
from promptbreeder.errors import RunError, UsageError
from promptbreeder.genomes.base import Birth, Genome, ranked
from promptbreeder.evolution.pareto import non_dominated
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.quality import QualityGate


FINALISTS = 3  # units the report compares with the baselines
FRONT_SHOWN = 5  # with a second objective: units of the score-length front the report compares
SEED_OPERATOR = "seed_prompt"  # the "operator" of a unit that starts from a hand-written seed prompt
ELITES_KEPT = 20  # elites remembered (the lineage mutation shows the last ones)


class PromptGenome(Genome):
    """`evaluator` is a FitnessEvaluator (or a callable building one from `backend`); `operators`
    reaches the operator registry (default: `promptbreeder.genomes.prompt.operators.registry`)."""

    kind = "prompt"
    STATE_KEYS = ("operator_stats", "debug_cursor", "quality_stats", "elites")
    per_example_scores = True

    def __init__(self, config: RunConfig, task_description: str, *, mutation_prompts: Sequence[str],
                 thinking_styles: Sequence[str], suite: Sequence[dict], backend: Backend, evaluator: Any,
                 query_text: Callable[[str], str], operators: OperatorSource | None = None,
                 mutation_decoder: DecoderOptions | None = None, seed_prompts: Sequence[str] = ()):
        if not mutation_prompts or not thinking_styles:
            raise UsageError("the day care needs at least one mutation prompt and one thinking style")
        self.config = config
        self.task_description = task_description
        self.mutation_prompts, self.thinking_styles = list(mutation_prompts), list(thinking_styles)
        self.seed_prompts = list(seed_prompts)  # hand-written prompts: baselines in the report
        self.train, self.heldout = train_heldout_split(suite, config.heldout_fraction, config.seed)
        if not self.train:
            raise RunError("the fitness test suite has no examples to evaluate prompts on")
        self.variants = config.fitness_variants
        # selection "pareto": the one set every unit is scored on, fixed per run seed
        self.pareto_set = (random.Random(f"pareto:{config.seed}").sample(self.train, min(config.pareto_examples,
                                                                                          len(self.train)))
                           if config.selection == "pareto" else [])
        self.context_shown = config.fitness_context_examples  # worked examples before the prompt in fitness tests
        self.backend = backend
        self.evaluator = evaluator if hasattr(evaluator, "evaluate") else evaluator(backend)
        self.query_text = query_text
        gate = QualityGate(backend, task_description, min_logprob=config.quality_min_logprob,
                           min_relevance=config.quality_min_relevance) if config.quality_gate else None
        optional = (("reflective",) if config.reflective_mutation else ()) + (("merge",) if config.merge_units else ())
        self.mutator = Mutator(operators or OperatorSource.from_registry(optional), backend, debug=config.debug_mode,
                               selection=config.operator_selection, gate=gate)
        self.mutation_decoder = config.decoder_override or mutation_decoder or DecoderOptions()
        self.elites: list[dict[str, Any]] = []  # the fittest unit of each generation, oldest first
        self._embeddings: dict[str, list[float]] = {}  # text -> vector: a prompt is embedded once per process
        self._tokens: dict[str, int] = {}  # text -> its length in the task model's tokens
        self._metric_calls = 0

    # -- the genome contract ------------------------------------------------------------------------

    def create(self, ids: list[str], rng: random.Random) -> tuple[list[Unit], list[tuple[str, dict]]]:
        # breeding system prompts, a unit starts from the default one (the init operator writes its own;
        # a seeded unit, or one whose init fails, keeps it)
        start_system = self.evaluator.system_prompt if self.config.breed_system_prompt else None
        units = [
            # the number of task prompts of a template tells the init operator how many to write
            Unit(id=unit_id, task_prompts=[self.task_description] * self.config.initial_prompts_per_unit,
                 mutation_prompt=rng.choice(self.mutation_prompts), thinking_style=rng.choice(self.thinking_styles),
                 generation=0, operator="init", system_prompt=start_system)
            for unit_id in ids
        ]
        # with start_from_seed_prompts, up to half the units start from the hand-written prompts as they are
        seeded = self.seed_prompts[: len(units) // 2] if self.config.start_from_seed_prompts else []
        for unit, prompt in zip(units, seeded):
            unit.task_prompts, unit.operator = [prompt], SEED_OPERATOR
        written = units[len(seeded):]
        ctx = self._context(0, population=[], new_id=lambda: "")
        prompts, fell_back = self.mutator.initial_prompts(written, ctx, rng, fallback=self.task_description)
        for unit, unit_prompts in zip(written, prompts):
            unit.system_prompt, unit.task_prompts = unit.split_prompts(unit_prompts, keep_rest=False)
        return units, [("init_failed", {"unit": u, "prompt": self.task_description}) for u in fell_back]

    def draw_batch(self, rng: random.Random) -> list[dict]:
        return rng.sample(self.train, min(self.config.fitness_batch_size, len(self.train)))

    def score(self, groups: list[tuple[list[Unit], list[dict]]], generation: int) -> None:
        # evolution's fitness evaluations, from the cache or afresh (the algorithm's cost, the same however
        # often the run was interrupted); the report's held-out and selection evaluations are not evolution's
        self._metric_calls += sum(len(units) * len(examples) for units, examples in groups) * len(self.variants)
        score_units(self.evaluator, self.variants, groups, generation, context_shown=self.context_shown,
                    seed=self.config.seed)

    def score_examples(self, units: list[Unit], generation: int) -> None:
        self._metric_calls += len(units) * len(self.pareto_set) * len(self.variants)
        score_units(self.evaluator, self.variants, [(units, self.pareto_set)], generation,
                    context_shown=self.context_shown, seed=self.config.seed, keep_example_scores=True)

    def example_scores(self, unit: Unit) -> list[float]:
        """Its scores on the Pareto set; with the prompt_tokens objective, then its shortness (1 for an empty
        prompt, 0.5 at 100 tokens), on which the shortest unit is best."""
        if unit.example_scores is None:
            raise RunError(f"unit {unit.id} has not been scored on the Pareto set")
        shortness = [1 / (1 + self.prompt_tokens(unit.prompts) / 100)] if self.config.second_objective else []
        return list(unit.example_scores) + shortness

    def prompt_tokens(self, texts: Sequence[str]) -> int:
        """The length of `texts` (a unit's evolved prompts, or a baseline's) in the task model's tokens."""
        missing = [t for t in texts if t not in self._tokens]
        self._tokens.update((t, self.backend.count_tokens(t)) for t in missing)
        return sum(self._tokens[t] for t in texts)

    def breed(self, winners: list[Unit], population: list[Unit], generation: int, new_id: Callable[[], str],
              rng: random.Random) -> list[Birth]:
        self._note_elite(population, generation)
        return self.mutator.breed(winners, self._context(generation, list(population), new_id), rng)

    def _note_elite(self, population: Sequence[Unit], generation: int) -> None:
        """Append the population's fittest unit to the chronological elites the lineage mutation shows,
        unless it is the same unit as the last one noted."""
        scored = ranked(population)
        if not scored or (self.elites and self.elites[-1]["id"] == scored[0].id):
            return
        best = scored[0]
        self.elites.append({"id": best.id, "generation": generation, "prompts": list(best.prompts),
                            "fitness": best.fitness})
        del self.elites[:-ELITES_KEPT]

    def credit(self, operators: list[str]) -> None:
        self.mutator.credit(operators)

    def report(self, population: Sequence[Unit], generation: int) -> dict[str, Any]:
        finalists, selection = self._finalists(self._contenders(population, generation))
        tokens = self.prompt_tokens if self.config.second_objective else None
        report = heldout_report(self.evaluator, self.variants, finalists, self.task_description, self.heldout,
                                seed_prompts=self.seed_prompts, context_shown=self.context_shown,
                                selection=selection, tokens=tokens)
        if tokens is not None:
            report["second_objective"] = {"name": self.config.second_objective, "token_cost": self.config.token_cost}
        return report

    def _finalists(self, contenders: Sequence[Unit]) -> tuple[list[Unit], dict[str, float]]:
        """The FINALISTS fittest units (with a second objective: the front of fitness against prompt length),
        re-ranked by their fitness on the same selection examples: up to `selection_examples` of the training
        split, fixed per run seed. Training fitness comes from a few small batches, different for each unit,
        and the luckiest unit tops it (the winner's curse); one common, larger set of training examples
        decides better, and never touches held-out data. With a second objective the order is the user's
        trade-off: score minus `token_cost` per prompt token, the shorter first among equals."""
        top = self._front(contenders) if self.config.second_objective else ranked(contenders)[:FINALISTS]
        selection: dict[str, float] = {}
        if top and self.config.selection_examples > 0:
            rng = random.Random(f"selection:{self.config.seed}")
            examples = rng.sample(self.train, min(self.config.selection_examples, len(self.train)))
            outcomes = evaluate_groups(self.evaluator, [([candidate(u, self.context_shown) for u in top], examples, v)
                                                        for v in self.variants])
            selection = {u.id: sum(o[i].fitness for o in outcomes) / len(outcomes) for i, u in enumerate(top)}
        if not self.config.second_objective:
            return (sorted(top, key=lambda u: -selection[u.id]) if selection else top), selection

        def trade_off(unit: Unit) -> tuple[float, int]:
            tokens = self.prompt_tokens(unit.prompts)
            return -(selection.get(unit.id, unit.fitness) - self.config.token_cost * tokens), tokens

        return sorted(top, key=trade_off), selection

    def _front(self, contenders: Sequence[Unit]) -> list[Unit]:
        """The scored units no other beats on both fitness and prompt length, fittest first; at most
        FRONT_SHOWN of them, spread evenly from the fittest to the shortest."""
        scored = ranked(contenders)
        ids = non_dominated({u.id: (u.fitness, -self.prompt_tokens(u.prompts)) for u in scored})
        front = [u for u in scored if u.id in ids]
        if len(front) <= FRONT_SHOWN:
            return front
        step = (len(front) - 1) / (FRONT_SHOWN - 1)
        return [front[round(i * step)] for i in range(FRONT_SHOWN)]

    def format_report(self, report: dict[str, Any]) -> str:
        return format_report(report)

    def report_rows(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        # bred units and baselines on the held-out split
        return [{"name": row["name"], "prompt": prompt_line(row["task_prompts"], row.get("system_prompt")),
                 "score": row["heldout_fitness"]} for row in report["rows"]]

    def reused_results(self) -> int:
        return self.evaluator.cached_results

    def metric_calls(self) -> int:
        return self._metric_calls

    def individual_from_dict(self, data: dict[str, Any]) -> Unit:
        return Unit.from_dict(data)

    def label(self, unit: Unit) -> str:
        return unit.task_prompt

    def state(self) -> dict[str, Any]:
        return {"operator_stats": {k: dict(v) for k, v in self.mutator.stats.items()},
                "debug_cursor": self.mutator.cursor,
                "quality_stats": {k: dict(v) for k, v in self.mutator.quality.items()},
                "elites": [dict(e) for e in self.elites], "metric_calls": self.metric_calls()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.mutator.stats = {k: dict(v) for k, v in state["operator_stats"].items()}
        self.mutator.cursor = int(state["debug_cursor"])
        self.mutator.quality = {k: dict(v) for k, v in state["quality_stats"].items()}
        self.elites = [dict(e) for e in state["elites"]]
        self._metric_calls = int(state.get("metric_calls", 0))  # a run saved before the count existed: 0

    # -- helpers ------------------------------------------------------------------------------------

    def _context(self, generation: int, population: list[Unit], new_id: Callable[[], str]) -> BreedContext:
        return BreedContext(
            task_description=self.task_description, population=population,
            mutation_prompts=self.mutation_prompts, thinking_styles=self.thinking_styles,
            query_text=self.query_text, mutation_decoder=self.mutation_decoder, generation=generation,
            num_eda_samples=self.config.num_eda_samples,
            num_lamarckian_reasonings=self.config.num_lamarckian_reasonings, new_id=new_id,
            temperature_range=(self.config.mutation_temperature_min, self.config.mutation_temperature_max),
            elites=list(self.elites), embed=self._embed if self.backend.can_embed_text else None)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """The model's embeddings of `texts`; the ones not seen before in one backend call."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._embeddings))
        if missing:
            self._embeddings.update(zip(missing, self.backend.text_embeddings(missing)))
        return [self._embeddings[t] for t in texts]

    def _contenders(self, population: Sequence[Unit], generation: int) -> list[Unit]:
        """The population for the report, children born in the last generation scored too.

        Children are scored in their first tournament, so the last generation's have no fitness yet.
        Copies of them are scored on one training batch drawn from an RNG of their own (on the Pareto set
        with Pareto selection): the saved state and the run's RNG stay as they were, so a run continued
        later is unaffected.
        """
        unscored = [Unit.from_dict(u.to_dict()) for u in population if u.fitness is None]
        if not unscored:
            return list(population)
        rng = random.Random(f"report:{self.config.seed}:{generation}")
        # Pareto selection judged every unit on its fixed set: the late children are judged on it too
        examples = self.pareto_set or self.draw_batch(rng)
        score_units(self.evaluator, self.variants, [(unscored, examples)], generation,
                    context_shown=self.context_shown, seed=self.config.seed)
        scored = {u.id: u for u in unscored}
        return [scored.get(u.id, u) for u in population]
