"""The PromptBreeder engine: a population of units evolved by binary tournaments (Fernando et al. 2023).

Step 0 (`initialise`) creates `population_size` units, each with a random mutation prompt and thinking
style and task prompts written by the "init" operator, and scores them all on one training batch.
Each later step (`run_generation`) shuffles the population into pairs; both units of a pair are scored
on the same fresh batch of training examples, the fitter one wins (a tie is decided by the RNG) and the
loser is replaced by a mutated child of the winner. Children are scored in their first tournament.

Elitism: the fittest unit at the start of a generation is never replaced. If it loses its tournament
the verdict is reversed (event field `elite_saved`), so the best prompt found so far cannot be lost to
one unlucky batch.

Every step ends with a snapshot (`store.save_step`) of everything that decides the future: population,
RNG state, id counter, operator statistics, debug cursor and children awaiting their first score. So a
run continued from step k (`resume`) ends in exactly the state an uninterrupted run would have reached.

Backend calls per generation: one for all fitness queries, one for all operators' queries, one for the
retries of failed operators (only when some failed); a model-based scorer adds one more.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.engine.mutation import Birth, Mutator, OperatorSource
from promptbreeder.engine.report import heldout_report, ranked
from promptbreeder.engine.scoring import enabled_variants, score_units
from promptbreeder.engine.split import train_heldout_split
from promptbreeder.errors import RunError, UsageError
from promptbreeder.genomes.prompt_unit import Unit
from promptbreeder.operators.base import BreedContext
from promptbreeder.store.atomic import write_json_atomic
from promptbreeder.store.rng import dump_random, load_random
from promptbreeder.store.run_store import RunStore

ProgressHook = Callable[[int, int, "float | None", "float | None"], None]  # (generation, total, best, mean)
STATE_KEYS = ("generation", "population", "rng", "operator_stats", "next_id", "debug_cursor", "pending_children")


class Breeder:
    """Runs one evolution, stored in `store`.

    `evaluator` is a FitnessEvaluator (or a callable building one from `backend`); `operators` reaches
    the operator registry (default: `promptbreeder.operators.registry`). `progress(generation, total,
    best, mean)` is called after every saved step; with `config.verbose` every tournament is written
    through `log_line`.
    """

    def __init__(self, config: Any, task_description: str, *, mutation_prompts: Sequence[str],
                 thinking_styles: Sequence[str], suite: Sequence[dict], backend: Backend, evaluator: Any,
                 query_text: Callable[[str], str], store: RunStore, operators: OperatorSource | None = None,
                 mutation_decoder: DecoderOptions | None = None, progress: ProgressHook | None = None,
                 log_line: Callable[[str], None] | None = None, seed_prompts: Sequence[str] = ()):
        if not mutation_prompts or not thinking_styles:
            raise UsageError("the day care needs at least one mutation prompt and one thinking style")
        self.config = config
        self.task_description = task_description
        self.seed_prompts = list(seed_prompts)  # hand-written prompts: baselines in the report
        self.mutation_prompts, self.thinking_styles = list(mutation_prompts), list(thinking_styles)
        self.train, self.heldout = train_heldout_split(suite, config.heldout_fraction, config.seed)
        if not self.train:
            raise RunError("the fitness test suite has no examples to evaluate prompts on")
        self.variants = enabled_variants(config)
        self.backend = backend
        self.evaluator = evaluator if hasattr(evaluator, "evaluate") else evaluator(backend)
        self.query_text = query_text
        self.store = store
        self.mutator = Mutator(operators or OperatorSource.from_registry(), backend, debug=config.debug_mode)
        if config.decoder_options_override:
            mutation_decoder = DecoderOptions.parse(config.decoder_options_override)
        self.mutation_decoder = mutation_decoder or DecoderOptions()
        self.progress = progress
        self.log_line = log_line or print
        self.rng = random.Random(config.seed)
        self.population: list[Unit] = []
        self.generation: int | None = None  # the last completed step; None before initialise/resume
        self.next_id = 0
        self.pending: dict[str, dict[str, Any]] = {}  # child id -> parent's fitness and the operators that made it
        self._events: list[tuple[str, dict[str, Any]]] = []

    # -- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [u.to_dict() for u in self.population],
            "rng": dump_random(self.rng),
            "operator_stats": {k: dict(v) for k, v in self.mutator.stats.items()},
            "next_id": self.next_id,
            "debug_cursor": self.mutator.cursor,
            "pending_children": {k: dict(v) for k, v in self.pending.items()},
        }

    def resume(self) -> int:
        """Restore the latest snapshot of the store; returns its step. Raises RunError when there is none."""
        snapshot = self.store.load_latest()
        if snapshot is None:
            raise RunError(f"run {self.store.number} has no saved step to continue from")
        state = snapshot.state
        try:
            missing = [k for k in STATE_KEYS if k not in state]
            if missing:
                raise KeyError(", ".join(missing))
            population = [Unit.from_dict(u) for u in state["population"]]
            rng = load_random(state["rng"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RunError(f"run {self.store.number}, step {snapshot.step}: the snapshot is not a breeder state"
                           f" ({type(exc).__name__}: {exc})") from None
        self.population, self.rng, self.generation = population, rng, int(state["generation"])
        self.next_id = int(state["next_id"])
        self.mutator.stats = {k: dict(v) for k, v in state["operator_stats"].items()}
        self.mutator.cursor = int(state["debug_cursor"])
        self.pending = {k: dict(v) for k, v in state["pending_children"].items()}
        self._events = []  # whatever an interrupted generation had collected belongs to no saved step
        self.store.log("resumed", step=snapshot.step)
        return snapshot.step

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Start (or continue the store's latest step) and evolve until `evolution_generations` are done."""
        if self.generation is None:
            if self.store.steps():
                self.resume()
            else:
                self.initialise()
        while self.generation < self.config.evolution_generations:
            self.run_generation(self.generation + 1)
        return self.state()

    def initialise(self) -> None:
        """Step 0: create the population, write its task prompts with the init operator, score it."""
        if self.generation is not None or self.store.steps():
            raise RunError(f"run {self.store.number} has already started: continue it with resume() or run()")
        config, rng = self.config, self.rng
        units = []
        for _ in range(config.population_size):
            # the number of task prompts of a template tells the init operator how many to write
            units.append(Unit(id=self._new_id(), task_prompts=[self.task_description] * config.initial_prompts_per_unit,
                              mutation_prompt=rng.choice(self.mutation_prompts),
                              thinking_style=rng.choice(self.thinking_styles), generation=0, operator="init"))
        # only the prompts of the init operator's units are kept: the templates already have their ids
        ctx = self._context(0, population=[], new_id=lambda: "")
        prompts, fell_back = self.mutator.initial_prompts(units, ctx, rng, fallback=self.task_description)
        for unit, unit_prompts in zip(units, prompts):
            unit.task_prompts = unit_prompts
        for unit_id in fell_back:
            self._events.append(("init_failed", {"unit": unit_id, "prompt": self.task_description}))
        batch = self._draw_batch()
        score_units(self.evaluator, self.variants, [(units, batch)], 0)
        self.population = units
        self.generation = 0
        self._finish_step(0, units)

    def run_generation(self, generation: int) -> None:
        """One round of binary tournaments over the whole population (see the module docstring)."""
        if self.generation is None or generation != self.generation + 1:
            raise RunError(f"generation {generation} cannot follow step {self.generation}")
        rng, population = self.rng, self.population
        elite = self._elite_id()
        order = list(range(len(population)))
        rng.shuffle(order)
        pairs = [(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]
        batches = [self._draw_batch() for _ in pairs]
        evaluated = [population[i] for pair in pairs for i in pair]
        score_units(self.evaluator, self.variants, [([population[a], population[b]], batch)
                                                    for (a, b), batch in zip(pairs, batches)], generation)
        self._credit(evaluated)
        verdicts = [self._judge(population[a], population[b], elite) for a, b in pairs]
        ctx = self._context(generation, population=list(population), new_id=self._new_id)
        winners = [population[a] if a_wins else population[b] for (a, b), (a_wins, _, _) in zip(pairs, verdicts)]
        births = self.mutator.breed(winners, ctx, rng)
        for (a, b), (a_wins, tie, elite_saved), birth in zip(pairs, verdicts, births):
            loser = b if a_wins else a
            self._record(generation, population[a], population[b], population[loser], birth, tie, elite_saved)
            self.pending[birth.child.id] = {"parent_fitness": birth.parent.fitness,
                                            "operators": ([] if birth.operator == "copy" else [birth.operator])
                                            + birth.post}
            population[loser] = birth.child
        self.generation = generation
        self._finish_step(generation, evaluated)

    def report(self) -> dict[str, Any]:
        """Held-out comparison of the top 3 units with the baselines; logged as event "report" and
        saved as report.json in the run folder."""
        if self.generation is None:
            raise RunError("there is nothing to report: the run has not started")
        report = heldout_report(self.evaluator, self.variants, self._contenders(), self.task_description, self.heldout,
                                seed_prompts=self.seed_prompts)
        report["generation"] = self.generation
        self.store.log("report", **report)
        write_json_atomic(self.store.folder / "report.json", report)
        return report

    # -- helpers ----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self.next_id += 1
        return f"u{self.next_id - 1}"

    def _context(self, generation: int, population: list[Unit], new_id: Callable[[], str]) -> BreedContext:
        return BreedContext(
            task_description=self.task_description, population=population,
            mutation_prompts=self.mutation_prompts, thinking_styles=self.thinking_styles,
            query_text=self.query_text, mutation_decoder=self.mutation_decoder, generation=generation,
            num_eda_samples=self.config.num_eda_samples,
            num_lamarckian_reasonings=self.config.num_lamarckian_reasonings, new_id=new_id)

    def _contenders(self) -> list[Unit]:
        """The population for the report, children born in the last generation scored too.

        Children are scored in their first tournament, so the last generation's have no fitness yet.
        Copies of them are scored on one training batch drawn from an RNG of their own: the saved
        state and the run's RNG stay as they were, so a run continued later is unaffected.
        """
        unscored = [Unit.from_dict(u.to_dict()) for u in self.population if u.fitness is None]
        if not unscored:
            return list(self.population)
        rng = random.Random(f"report:{self.config.seed}:{self.generation}")
        batch = rng.sample(self.train, min(self.config.fitness_batch_size, len(self.train)))
        score_units(self.evaluator, self.variants, [(unscored, batch)], self.generation)
        scored = {u.id: u for u in unscored}
        return [scored.get(u.id, u) for u in self.population]

    def _draw_batch(self) -> list[dict]:
        return self.rng.sample(self.train, min(self.config.fitness_batch_size, len(self.train)))

    def _elite_id(self) -> str | None:
        best = ranked(self.population)
        return best[0].id if best else None

    def _judge(self, a: Unit, b: Unit, elite: str | None) -> tuple[bool, bool, bool]:
        """(a wins, it was a tie, the elite was saved from losing)."""
        tie = a.fitness == b.fitness
        a_wins = self.rng.random() < 0.5 if tie else a.fitness > b.fitness
        if elite in (a.id, b.id) and (a.id == elite) != a_wins:
            return not a_wins, tie, True
        return a_wins, tie, False

    def _credit(self, evaluated: list[Unit]) -> None:
        """A child's first score settles whether its operators beat the parent."""
        for unit in evaluated:
            record = self.pending.pop(unit.id, None)
            if record is not None and record["parent_fitness"] is not None and unit.fitness > record["parent_fitness"]:
                self.mutator.credit(record["operators"])

    def _record(self, generation: int, a: Unit, b: Unit, loser: Unit, birth: Birth, tie: bool,
                elite_saved: bool) -> None:
        self._events.append(("tournament", {
            "generation": generation, "pair": [a.id, b.id], "fitness": [a.fitness, b.fitness],
            "winner": birth.parent.id, "loser": loser.id, "child": birth.child.id, "operator": birth.operator,
            "tried": birth.tried, "post": birth.post, "tie": tie, "elite_saved": elite_saved}))
        if birth.operator == "copy":
            self._events.append(("mutation_failed", {"generation": generation, "parent": birth.parent.id,
                                                     "operators": birth.tried, "child": birth.child.id}))
        if self.config.verbose:
            verdict = "tie, " if tie else ""
            verdict += "elite kept, " if elite_saved else ""
            self.log_line(f"gen {generation}: {a.id} {a.fitness:.3f} vs {b.id} {b.fitness:.3f} -> {verdict}"
                          f"{birth.parent.id} wins; {loser.id} replaced by {birth.child.id} ({birth.operator}"
                          + "".join(f" + {p}" for p in birth.post) + f"): {birth.child.task_prompt!r}")

    def _finish_step(self, step: int, evaluated: list[Unit]) -> None:
        """Save the snapshot, then the step's events (so a crash can lose events but never repeat them)."""
        self.store.save_step(step, self.state())
        for event, fields in self._events:
            self.store.log(event, **fields)
        self._events = []
        best = ranked(self.population)
        scores = [u.fitness for u in evaluated if u.fitness is not None]
        best_fitness = best[0].fitness if best else None
        mean = sum(scores) / len(scores) if scores else None
        self.store.log("generation", generation=step, best=best_fitness, best_id=best[0].id if best else None,
                       mean=mean, evaluated=len(scores))
        if self.progress is not None:
            self.progress(step, self.config.evolution_generations, best_fitness, mean)
