"""The GA engine: a population evolved by binary tournaments (PromptBreeder, Fernando et al. 2023),
the same for every genome (`genomes/base.py` says what a genome provides).

Step 0 (`initialise`) has the genome create `population_size` individuals and scores them all on one
batch. Each later step (`run_generation`) shuffles the population into pairs; both units of a pair are
scored on the same fresh batch, the fitter one wins (a tie is decided by the RNG) and the loser is
replaced by the genome's child of the winner. Children are scored in their first tournament.

Elitism: the fittest unit at the start of a generation is never replaced. It wins its ties; if it
loses its tournament that pair breeds no child and both units stay (event field `elite_saved`): the
best unit so far cannot be lost to one unlucky batch, and the unit that beat it (often a better
newcomer, the next generation's elite) is not lost either.

With `selection: pareto` (GEPA's frontier, `pareto.py`) a generation instead scores the unscored units on
the genome's fixed example set, draws up to half the population's size of parents in proportion to the
examples each frontier unit is best on, and puts their children in the places of units off the frontier
(the elite is never replaced). Only genomes with per-example scores (`Genome.per_example_scores`) can.

Every step ends with a snapshot (`store.save_step`) of everything that decides the future: population,
RNG state, id counter, children awaiting their first score and the genome's own state (for prompts:
operator statistics and the debug cursor). So a run continued from step k (`resume`) ends in exactly
the state an uninterrupted run would have reached.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from promptbreeder.config import RunConfig
from promptbreeder.errors import RunError, UsageError
from promptbreeder.evolution import pareto
from promptbreeder.genomes.base import COPY_OPERATOR, Birth, Genome, ranked
from promptbreeder.store.atomic import write_json_atomic
from promptbreeder.store.rng import dump_random, load_random
from promptbreeder.store.run_store import RunStore

ProgressHook = Callable[[int, int, "float | None", "float | None"], None]  # (generation, total, best, mean)
STATE_KEYS = ("generation", "population", "rng", "next_id", "pending_children")  # plus the genome's STATE_KEYS


class Breeder:
    """Runs one evolution of `genome` individuals, stored in `store`.

    `progress(generation, total, best, mean)` is called after every saved step; with `config.verbose`
    every tournament is written through `log_line`.
    """

    def __init__(self, config: RunConfig, genome: Genome, *, store: RunStore, progress: ProgressHook | None = None,
                 log_line: Callable[[str], None] | None = None, report_extras: dict[str, Any] | None = None):
        self.config = config
        self.report_extras = report_extras or {}  # facts of the run the genome does not know (its models)
        self.genome = genome
        self.store = store
        self.progress = progress
        self.log_line = log_line or print
        self.rng = random.Random(config.seed)
        self.population: list[Any] = []
        self.generation: int | None = None  # the last completed step; None before initialise/resume
        self.next_id = 0
        self.pending: dict[str, dict[str, Any]] = {}  # child id -> parent's fitness and the operators that made it
        self._events: list[tuple[str, dict[str, Any]]] = []
        self.stopped: str | None = None  # why the last run() ended before its last generation (continuable)
        self.target: str | None = None  # the genome's goal met: the run is done before its last generation
        self.step_entropy: dict[str, float] = {}  # the last step's mean entropies (calculate_entropy)
        self.pareto = config.selection == "pareto"
        if self.pareto and not genome.per_example_scores:
            raise UsageError(f"selection: pareto needs a score per example, which the {genome.kind} genome does not"
                             " give; use selection tournament")

    # -- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [u.to_dict() for u in self.population],
            "rng": dump_random(self.rng),
            "next_id": self.next_id,
            "pending_children": {k: dict(v) for k, v in self.pending.items()},
            **self.genome.state(),
        }

    def resume(self) -> int:
        """Restore the latest snapshot of the store; returns its step. Raises RunError when there is none."""
        snapshot = self.store.load_latest()
        if snapshot is None:
            raise RunError(f"run {self.store.number} has no saved step to continue from")
        state = snapshot.state
        try:
            missing = [k for k in STATE_KEYS + self.genome.STATE_KEYS if k not in state]
            if missing:
                raise KeyError(", ".join(missing))
            population = [self.genome.individual_from_dict(u) for u in state["population"]]
            rng = load_random(state["rng"])
            self.genome.load_state(state)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RunError(f"run {self.store.number}, step {snapshot.step}: the snapshot is not a breeder state"
                           f" ({type(exc).__name__}: {exc})") from None
        self.population, self.rng, self.generation = population, rng, int(state["generation"])
        self.next_id = int(state["next_id"])
        self.pending = {k: dict(v) for k, v in state["pending_children"].items()}
        self._events = []  # whatever an interrupted generation had collected belongs to no saved step
        self.store.log("resumed", step=snapshot.step)
        return snapshot.step

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: Callable[[], str | None] | None = None) -> dict[str, Any]:
        """Start (or continue the store's latest step) and evolve until `evolution_generations` are done.

        `stop()` is asked after every saved step; a reason (a budget reached, a signal) ends the run there,
        recorded in `stopped` and as a "stopped" event. The run continues later from that step.
        """
        self.stopped = self.target = None
        if self.generation is None:
            if self.store.steps():
                self.resume()
            else:
                self.initialise()
        while self.generation < self.config.evolution_generations:
            self.target = self.genome.target_reached()
            if self.target:
                self.store.log("target_reached", step=self.generation, reason=self.target)
                break
            reason = stop() if stop is not None else None
            if reason:
                self.stopped = reason
                self.store.log("stopped", step=self.generation, reason=reason)
                break
            self.run_generation(self.generation + 1)
        return self.state()

    def initialise(self) -> None:
        """Step 0: the genome creates the population, which is scored on one batch."""
        if self.generation is not None or self.store.steps():
            raise RunError(f"run {self.store.number} has already started: continue it with resume() or run()")
        ids = [self._new_id() for _ in range(self.config.population_size)]
        units, events = self.genome.create(ids, self.rng)
        self._events.extend(events)
        if self.pareto:
            self.genome.score_examples(units, 0)
        else:
            self.genome.score([(units, self.genome.draw_batch(self.rng))], 0)
        self.population = units
        self.generation = 0
        self._finish_step(0, units)

    def run_generation(self, generation: int) -> None:
        """One round of binary tournaments over the whole population (see the module docstring)."""
        if self.generation is None or generation != self.generation + 1:
            raise RunError(f"generation {generation} cannot follow step {self.generation}")
        if self.pareto:
            self._pareto_generation(generation)
            return
        rng, population = self.rng, self.population
        elite = self._elite_id() if self.config.elitism else None
        order = list(range(len(population)))
        rng.shuffle(order)
        pairs = [(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]
        batches = [self.genome.draw_batch(rng) for _ in pairs]
        evaluated = [population[i] for pair in pairs for i in pair]
        self.genome.score([([population[a], population[b]], batch) for (a, b), batch in zip(pairs, batches)],
                          generation)
        self._credit(evaluated)
        verdicts = [self._judge(population[a], population[b], elite) for a, b in pairs]
        breeding = [(pair, verdict) for pair, verdict in zip(pairs, verdicts) if not verdict[2]]
        winners = [population[a] if a_wins else population[b] for (a, b), (a_wins, _, _) in breeding]
        births = iter(self.genome.breed(winners, list(population), generation, self._new_id, rng))
        for (a, b), (a_wins, tie, elite_saved) in zip(pairs, verdicts):
            loser = b if a_wins else a
            birth = None if elite_saved else next(births)
            self._record(generation, population[a], population[b], population[loser], birth, tie, a_wins)
            if birth is None:
                continue
            self._await_first_score(birth)
            population[loser] = birth.child
        self.generation = generation
        self._finish_step(generation, evaluated)

    def _pareto_generation(self, generation: int) -> None:
        """One generation of Pareto selection (see the module docstring)."""
        population = self.population
        evaluated = [u for u in population if u.fitness is None]
        if evaluated:
            self.genome.score_examples(evaluated, generation)
        self._credit(evaluated)
        fitness = {u.id: u.fitness for u in population}
        front = pareto.frontier({u.id: self.genome.example_scores(u) for u in ranked(population)})
        elite = self._elite_id() if self.config.elitism else None
        victims = pareto.replaceable(fitness, front, {elite} if elite else set(), len(population) // 2)
        by_id = {u.id: u for u in population}
        parents = [by_id[i] for i in pareto.draw_parents(front, [u.id for u in population], len(victims), self.rng)]
        births = self.genome.breed(parents, list(population), generation, self._new_id, self.rng) if victims else []
        slots = {u.id: i for i, u in enumerate(population)}
        for victim, birth in zip(victims, births):
            self._await_first_score(birth)
            population[slots[victim]] = birth.child
            self._record_birth(generation, birth, by_id[victim])
        self._events.append(("pareto", {"generation": generation, "front": front, "replaced": victims,
                                        "parents": [b.parent.id for b in births],
                                        "children": [b.child.id for b in births]}))
        self.generation = generation
        self._finish_step(generation, evaluated)

    def report(self) -> dict[str, Any]:
        """The genome's end-of-run comparison (for prompts: the top units against the baselines on the
        held-out split); logged as event "report" and saved as report.json in the run folder."""
        if self.generation is None:
            raise RunError("there is nothing to report: the run has not started")
        report = self.genome.report(self.population, self.generation)
        report.update(self.report_extras)
        report["generation"] = self.generation
        if self.stopped:
            report["stopped"] = self.stopped
        if self.target:
            report["target_reached"] = self.target
        self.store.log("report", **report)
        write_json_atomic(self.store.folder / "report.json", report)
        return report

    # -- helpers ----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self.next_id += 1
        return f"u{self.next_id - 1}"

    def _elite_id(self) -> str | None:
        best = ranked(self.population)
        return best[0].id if best else None

    def _judge(self, a: Any, b: Any, elite: str | None) -> tuple[bool, bool, bool]:
        """(a wins, it was a tie, the elite lost: the pair then breeds nothing).

        A tie goes to the elite (else the RNG decides): an elite losing a coin toss would stop its pair
        breeding, which in a small population of equal scores would stop evolution altogether.
        """
        tie = a.fitness == b.fitness
        if tie and elite in (a.id, b.id):
            return a.id == elite, True, False
        a_wins = self.rng.random() < 0.5 if tie else a.fitness > b.fitness
        return a_wins, tie, elite in (a.id, b.id) and (a.id == elite) != a_wins

    def _await_first_score(self, birth: Birth) -> None:
        """Remember what made the child, to credit it if its first score beats its parent's (`_credit`)."""
        self.pending[birth.child.id] = {"parent_fitness": birth.parent.fitness,
                                        "operators": ([] if birth.operator == COPY_OPERATOR else [birth.operator])
                                        + birth.post}

    def _credit(self, evaluated: list[Any]) -> None:
        """A child's first score settles whether its operators beat the parent."""
        for unit in evaluated:
            record = self.pending.pop(unit.id, None)
            if record is not None and record["parent_fitness"] is not None and unit.fitness > record["parent_fitness"]:
                self.genome.credit(record["operators"])

    def _record(self, generation: int, a: Any, b: Any, loser: Any, birth: Birth | None, tie: bool,
                a_wins: bool) -> None:
        """Log one tournament; `birth` is None when the elite lost and the pair bred nothing."""
        winner = a if a_wins else b
        self._events.append(("tournament", {
            "generation": generation, "pair": [a.id, b.id], "fitness": [a.fitness, b.fitness],
            "winner": winner.id, "loser": loser.id, "child": birth.child.id if birth else None,
            "operator": birth.operator if birth else None, "tried": birth.tried if birth else [],
            "post": birth.post if birth else [], "rejected": birth.rejected if birth else [], "tie": tie,
            "elite_saved": birth is None}))
        if birth is not None:
            self._note_copy(generation, birth)
        if self.config.verbose:
            head = f"gen {generation}: {a.id} {a.fitness:.3f} vs {b.id} {b.fitness:.3f} -> {'tie, ' if tie else ''}"
            if birth is None:
                self.log_line(f"{head}{winner.id} wins; {loser.id} is the elite and stays, no child")
                return
            self.log_line(f"{head}{winner.id} wins; {loser.id} replaced by {birth.child.id} ({birth.operator}"
                          + "".join(f" + {p}" for p in birth.post) + f"): {self.genome.label(birth.child)!r}")

    def _record_birth(self, generation: int, birth: Birth, replaced: Any) -> None:
        """Log one Pareto birth: the parent drawn from the frontier and the unit its child replaced."""
        self._events.append(("birth", {
            "generation": generation, "parent": birth.parent.id, "parent_fitness": birth.parent.fitness,
            "replaced": replaced.id, "replaced_fitness": replaced.fitness, "child": birth.child.id,
            "operator": birth.operator, "tried": birth.tried, "post": birth.post, "rejected": birth.rejected}))
        self._note_copy(generation, birth)
        if self.config.verbose:
            self.log_line(f"gen {generation}: {birth.parent.id} {birth.parent.fitness:.3f} (frontier) -> {birth.child.id}"
                          f" ({birth.operator}" + "".join(f" + {p}" for p in birth.post)
                          + f") in place of {replaced.id} {replaced.fitness:.3f}: {self.genome.label(birth.child)!r}")

    def _note_copy(self, generation: int, birth: Birth) -> None:
        if birth.operator == COPY_OPERATOR:
            self._events.append(("mutation_failed", {"generation": generation, "parent": birth.parent.id,
                                                     "operators": birth.tried, "child": birth.child.id}))

    def _step_entropy(self, step: int, evaluated: list[Any]) -> dict[str, float]:
        """With calculate_entropy: the step's mean next-token entropy of fitness answers and of mutations."""
        answers = [h["entropy"] for u in evaluated for h in getattr(u, "fitness_history", [])
                   if h.get("generation") == step and h.get("entropy") is not None]
        made = [u.mutation_entropy for u in self.population
                if u.generation == step and getattr(u, "mutation_entropy", None) is not None]
        out = {}
        if answers:
            out["fitness_entropy"] = sum(answers) / len(answers)
        if made:
            out["mutation_entropy"] = sum(made) / len(made)
        return out

    def _finish_step(self, step: int, evaluated: list[Any]) -> None:
        """Save the snapshot, then the step's events (so a crash can lose events but never repeat them)."""
        self.store.save_step(step, self.state())
        for event, fields in self._events:
            self.store.log(event, **fields)
        self._events = []
        best = ranked(self.population)
        scores = [u.fitness for u in evaluated if u.fitness is not None]
        finite = [s for s in scores if math.isfinite(s)]  # a failed evaluation (-inf) would swamp the mean
        best_fitness = best[0].fitness if best else None
        mean = sum(finite) / len(finite) if finite else None
        self.step_entropy = self._step_entropy(step, evaluated)
        self.store.log("generation", generation=step, best=best_fitness, best_id=best[0].id if best else None,
                       mean=mean, evaluated=len(scores), **self.step_entropy)
        if self.progress is not None:
            self.progress(step, self.config.evolution_generations, best_fitness, mean)
