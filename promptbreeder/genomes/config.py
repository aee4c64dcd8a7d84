"""The HPO genome: hyperparameter configurations, proposed by the LLM the way LLAMBO does (Liu et al. 2024).

Creation: a zero-shot warm start (the LLM proposes configurations from the task description and the
search space alone) or uniform random samples (`warm_start`). Every LLM value is written under an LMQL
constraint (a number pattern, or one of the choices), then coerced into range by the search space.
Scoring: the task's objective on the configuration (deterministic: no batch), remembered per
configuration, so a configuration is evaluated once; every evaluation joins the history.
Breeding, per winner (one backend call for all candidates, one for all surrogate predictions):
- "llm_proposal": `num_candidates` configurations sampled from the LLM conditioned on the history and a
  target score a little beyond the best so far; with `surrogate: "llm"` the LLM also predicts each
  candidate's score `surrogate_samples` times (mean and spread) and the candidate with the best expected
  improvement (`acq_strategy: "ei"`) or upper confidence bound ("ucb") is kept; otherwise the first.
- "crossover" (10% of children): each value from the winner or another unit of the population;
- "perturb": the winner moved a little in the unit cube; the fallback when no candidate is usable or new,
  and the mutation of the model-free GA (`proposal: "none"`).
Report: the best configuration, its score and the best-so-far curve over evaluations.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest
from promptbreeder.genomes.base import Birth, Genome, history_window, running_best
from promptbreeder.hpo.space import SearchSpace

HISTORY_WINDOW = 12  # scored configurations shown to the LLM: the best half and the most recent half
CROSSOVER_RATE = 0.1
PERTURB_SCALE = 0.1  # standard deviation of a perturbation in the unit cube
# a value ends with its line: without the newline in the pattern the model, offered only digits, never
# stops and every value runs to its token limit (then clipped to a bound of the range)
FLOAT_PATTERN = r"-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?\n"
INT_PATTERN = r"-?[0-9]+\n"


@dataclass
class ConfigUnit:
    id: str
    config: dict[str, Any]
    generation: int = 0
    parent: str | None = None
    operator: str | None = None
    fitness: float | None = None
    score: float | None = None  # the objective's value (fitness is its negation when minimising)
    fitness_history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConfigUnit":
        return cls(**data)


@dataclass(frozen=True)
class ConfigOptions:
    warm_start: str = "llm"  # "llm" | "random"
    proposal: str = "llm"  # "llm" (LLAMBO candidate sampling) | "none" (GA without a model: perturb and crossover)
    num_candidates: int = 4
    surrogate: str = "llm"  # "llm" | "none"
    surrogate_samples: int = 3
    acq_strategy: str = "ei"  # "ei" | "ucb"
    ucb_kappa: float = 1.0
    target_margin: float = 0.1  # aim this fraction of the observed score range beyond the best


class ConfigGenome(Genome):
    kind = "config"
    STATE_KEYS = ("evaluations",)

    def __init__(self, config: Any, task_description: str, space: SearchSpace, objective: Callable[[dict], float], *,
                 backend: Backend, query_text: Callable[[str], str], direction: str = "maximize",
                 decoder: DecoderOptions | None = None, options: ConfigOptions = ConfigOptions()):
        self.config, self.task_description, self.space, self.objective = config, task_description, space, objective
        self.backend, self.query_text, self.options = backend, query_text, options
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.direction = direction
        self.decoder = decoder or DecoderOptions.parse("sample(temperature=0.8)")
        self.evaluations: list[dict[str, Any]] = []  # {"config", "score", "unit"} in evaluation order
        self._known: dict[str, float] = {}

    # -- the genome contract ------------------------------------------------------------------------

    def create(self, ids: list[str], rng: random.Random) -> tuple[list[ConfigUnit], list[tuple[str, dict]]]:
        events: list[tuple[str, dict]] = []
        configs: list[dict | None] = [None] * len(ids)
        if self.options.warm_start == "llm":
            results = self.backend.run_many([self._proposal_request(rng, target=None) for _ in ids])
            configs = [self._parse(r) for r in results]
        units = []
        for unit_id, proposed in zip(ids, configs):
            if proposed is None or any(self.space.key(proposed) == self.space.key(u.config) for u in units):
                if self.options.warm_start == "llm":
                    events.append(("init_failed", {"unit": unit_id}))
                proposed = self.space.sample(rng)
            units.append(ConfigUnit(id=unit_id, config=proposed, operator="init"))
        return units, events

    def draw_batch(self, rng: random.Random) -> None:
        return None  # the objective does not depend on a draw

    def score(self, groups: list[tuple[list[ConfigUnit], Any]], generation: int) -> None:
        for units, _ in groups:
            for unit in units:
                key = self.space.key(unit.config)
                if key not in self._known:
                    self._known[key] = float(self.objective(dict(unit.config)))
                    self.evaluations.append({"config": dict(unit.config), "score": self._known[key], "unit": unit.id})
                unit.score = self._known[key]
                unit.fitness = self.sign * unit.score
                unit.fitness_history.append({"generation": generation, "fitness": unit.fitness})

    def breed(self, winners: list[ConfigUnit], population: list[ConfigUnit], generation: int,
              new_id: Callable[[], str], rng: random.Random) -> list[Birth]:
        mutation = "llm_proposal" if self.options.proposal == "llm" else "perturb"
        plans = ["crossover" if rng.random() < CROSSOVER_RATE else mutation for _ in winners]
        proposals = self._propose([w for w, p in zip(winners, plans) if p == "llm_proposal"], rng)
        births, made = [], set()  # children of this call must differ from each other too
        for winner, plan in zip(winners, plans):
            tried = [plan]
            if plan == "crossover":
                partner = rng.choice(population)
                child = {n: (winner.config if rng.random() < 0.5 else partner.config)[n] for n in self.space.names}
            elif plan == "perturb":
                child = self._perturb(winner.config, rng)
            else:
                child = proposals.pop(0)
            if plan != "perturb" and (child is None or self._seen(child, population) or self.space.key(child) in made):
                tried.append("perturb")
                plan, child = "perturb", self._perturb(winner.config, rng)
            made.add(self.space.key(child))
            births.append(Birth(winner, ConfigUnit(id=new_id(), config=child, generation=generation, parent=winner.id,
                                                   operator=plan), plan, tried=tried))
        return births

    def report(self, population: Sequence[ConfigUnit], generation: int) -> dict[str, Any]:
        # the last generation's children meet no tournament: evaluate them (copies; the state is saved)
        self.score([([ConfigUnit.from_dict(u.to_dict()) for u in population if u.fitness is None], None)],
                   generation)
        best = max(self.evaluations, key=lambda e: self.sign * e["score"], default=None)
        curve = running_best([e["score"] for e in self.evaluations], self.sign)
        return {"genome": "config", "direction": self.direction, "evaluations": len(self.evaluations),
                "best": best, "best_so_far": curve,
                "top": sorted(self.evaluations, key=lambda e: -self.sign * e["score"])[:3]}

    def format_report(self, report: dict[str, Any]) -> str:
        lines = [f"{report['evaluations']} configurations evaluated ({report['direction']}):"]
        for i, entry in enumerate(report["top"], 1):
            lines.append(f"  {i}. {entry['score']:.4f}  {self.space.format_config(entry['config'])}  ({entry['unit']})")
        return "\n".join(lines)

    def individual_from_dict(self, data: dict[str, Any]) -> ConfigUnit:
        return ConfigUnit.from_dict(data)

    def label(self, unit: ConfigUnit) -> str:
        return self.space.format_config(unit.config)

    def state(self) -> dict[str, Any]:
        return {"evaluations": [dict(e) for e in self.evaluations]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.evaluations = [dict(e) for e in state["evaluations"]]
        self._known = {self.space.key(e["config"]): float(e["score"]) for e in self.evaluations}

    # -- LLAMBO: candidate sampling, surrogate, acquisition -------------------------------------------

    def _propose(self, winners: list[ConfigUnit], rng: random.Random) -> list[dict | None]:
        """One configuration per winner: candidates sampled from the LLM, chosen by the acquisition."""
        if not winners:
            return []
        n = max(self.options.num_candidates, 1)
        target = self._target()
        requests = [self._proposal_request(rng, target) for _ in winners for _ in range(n)]
        parsed = [self._parse(r) for r in self.backend.run_many(requests)]
        groups = [[c for c in parsed[i * n:(i + 1) * n] if c is not None] for i in range(len(winners))]
        groups = [[c for c in g if self.space.key(c) not in self._known] for g in groups]
        if self.options.surrogate != "llm":
            return [g[0] if g else None for g in groups]
        samples = max(self.options.surrogate_samples, 1)
        flat = [c for g in groups for c in g]
        requests = [self._surrogate_request(c, rng) for c in flat for _ in range(samples)]
        results = self.backend.run_many(requests) if requests else []
        predictions = iter(_number(r.variables.get("SCORE")) if r.ok else None for r in results)
        chosen = []
        for group in groups:
            values = [self._acquisition([next(predictions) for _ in range(samples)]) for _ in group]
            best = max(range(len(group)), key=lambda i: values[i], default=None)
            chosen.append(None if best is None else group[best])
        return chosen

    def _acquisition(self, predicted: list[float | None]) -> float:
        values = [self.sign * v for v in predicted if v is not None and math.isfinite(v)]
        if not values:
            return -math.inf
        mean = statistics.fmean(values)
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        spread = max(spread, 1e-6)
        if self.options.acq_strategy == "ucb":
            return mean + self.options.ucb_kappa * spread
        best = max((self.sign * e["score"] for e in self.evaluations), default=mean)
        z = (mean - best) / spread
        return (mean - best) * _normal_cdf(z) + spread * _normal_pdf(z)

    def _target(self) -> float | None:
        scores = [self.sign * e["score"] for e in self.evaluations]
        if not scores:
            return None
        best, worst = max(scores), min(scores)
        return self.sign * (best + self.options.target_margin * (best - worst))

    # -- queries ------------------------------------------------------------------------------------

    def _history(self) -> str:
        if not self.evaluations:
            return "No configuration has been evaluated yet."
        shown = history_window(self.evaluations, HISTORY_WINDOW, self.sign)
        better = "higher" if self.sign > 0 else "lower"
        lines = [f"Configurations evaluated so far (score, {better} is better):"]
        lines += [f"- {self.space.format_config(e['config'])} -> {e['score']:.4f}"
                  for e in sorted(shown, key=lambda e: -self.sign * e["score"])]
        return "\n".join(lines)

    def _inputs(self) -> dict[str, Any]:
        return {"task_description": self.task_description, "space_description": self.space.describe(),
                "history": self._history()}

    def _proposal_request(self, rng: random.Random, target: float | None) -> QueryRequest:
        lines, inputs = [], self._inputs()
        for i, p in enumerate(self.space.params):
            if p.kind == "categorical":
                inputs[f"choices_{i}"] = [str(c) for c in p.choices]
                lines.append(f'"{p.name}: [P{i}]\\n" where P{i} in choices_{i}')
            else:  # the range right before the value: a small model copies what it has just read
                label = f"{p.name} ({_number_text(p.low)} to {_number_text(p.high)})"
                pattern, bound = (INT_PATTERN, 12) if p.kind == "int" else (FLOAT_PATTERN, 16)
                lines.append(f'"{label}: [P{i}]" where REGEX(P{i}, r"{pattern}") and len(TOKENS(P{i})) < {bound}')
        inputs["target"] = "" if target is None else f" expected to reach a score of {target:.4f}"
        query = self.query_text("config_propose").rstrip() + "\n" + "\n".join(lines) + "\n"
        return QueryRequest(query=query, inputs=inputs, decoder=self.decoder, seed=rng.randrange(2**31),
                            name="config_propose")

    def _surrogate_request(self, candidate: dict, rng: random.Random) -> QueryRequest:
        inputs = self._inputs() | {"candidate": self.space.format_config(candidate)}
        return QueryRequest(query=self.query_text("config_surrogate"), inputs=inputs, decoder=self.decoder,
                            seed=rng.randrange(2**31), name="config_surrogate")

    def _parse(self, result) -> dict | None:
        if not result.ok:
            return None
        raw = {p.name: result.variables.get(f"P{i}", "") for i, p in enumerate(self.space.params)}
        return self.space.coerce(raw)

    def _seen(self, config: dict, population: list[ConfigUnit]) -> bool:
        key = self.space.key(config)
        return key in self._known or any(self.space.key(u.config) == key for u in population)

    def _perturb(self, config: dict, rng: random.Random) -> dict:
        vector = [min(max(v + rng.gauss(0.0, PERTURB_SCALE), 0.0), 1.0) for v in self.space.to_unit(config)]
        return self.space.from_unit(vector)


def _number(text: Any) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
