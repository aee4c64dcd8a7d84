"""`--dry_run`: what the configured run would cost, projected before running it.

Counting is exact rather than estimated from formulas: the whole run is simulated with the same engine
and genome on a fake backend whose replies the genome kind makes plausible (`GenomeKind.plausible_reply`:
an answer for every fitness query, a usable prompt for every operator, ...), with the task's objective
replaced by a stand-in where it is not the model (`Genome.stand_in_objective`: HPO objectives, text and
code evaluators). Cost per query comes from measurement: a few of the
simulated queries of each kind are run on the real model, batched as the run batches them, which gives
seconds and generated tokens per query of that kind. Multiplying gives the projection; the model's
start-up time is measured too. Answers the model gets wrong or unusable can make a real run retry an
operator, so calls are a lower bound within a few per cent.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.fake import FakeBackend, plain_word_logprobs
from promptbreeder.config import RunConfig
from promptbreeder.evolution.breeder import Breeder
from promptbreeder.genomes.kind import DayCareView, GenomeKind, TaskFolder
from promptbreeder.store.cache import CallCache
from promptbreeder.store.run_store import RunStore

PROBE_PER_KIND = 8  # real queries measured per query kind (one batch)


def _stand_in_score(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


@dataclass
class Projection:
    generations: int
    counts: dict[str, int]  # simulated queries per query name
    calls_after_step: list[int]  # cumulative simulated queries after each step
    per_query: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (seconds, generated tokens)
    startup_seconds: float = 0.0
    evaluations: int = 0  # objective / evaluator calls (config, text, code genomes)
    seconds_per_evaluation: float | None = None

    def total(self) -> tuple[int, float, float]:
        calls = sum(self.counts.values())
        tokens = sum(n * self.per_query.get(name, (0.0, 0.0))[1] for name, n in self.counts.items())
        seconds = sum(n * self.per_query.get(name, (0.0, 0.0))[0] for name, n in self.counts.items())
        seconds += self.startup_seconds + self.evaluations * (self.seconds_per_evaluation or 0.0)
        return calls, tokens, seconds

    def step_reaching(self, calls: int) -> int | None:
        """The step during which the run would have made `calls` model queries (None: never)."""
        return next((step for step, made in enumerate(self.calls_after_step) if made >= calls), None)


def simulate(config: RunConfig, day_care: DayCareView, task: TaskFolder, kind: GenomeKind,
             ) -> tuple[Projection, FakeBackend, Callable[[], None] | None]:
    """The configured run of `task` (a task of `kind`) on a fake backend whose replies the kind makes
    plausible, in a temporary store; an objective that is not the model is replaced by a stand-in.

    As in a real run, the fake sits behind the run's cache, so a fitness answer asked twice is counted once.
    """
    # a local model can score text (the quality gate, likelihood answers): the stand-in says so too,
    # so the simulated run takes the same paths as the real one
    scorer = plain_word_logprobs if config.model_spec.runs_in_process else None
    backend = FakeBackend(responder=kind.plausible_reply, text_scorer=scorer)
    after_step: list[int] = []
    stand_in_calls: list[str] = []  # one per evaluation of the objective the stand-in replaced
    with tempfile.TemporaryDirectory(prefix="pb-dry-run-") as folder:
        store = RunStore.create(Path(folder) / "runs", config.to_dict())
        cache = CallCache(store.cache_path)
        try:
            with CachingBackend(backend, cache, model=config.model_identity) as cached:
                genome = kind.build(config, day_care, task, cached, cache)
                time_objective = genome.stand_in_objective(lambda text: stand_in_calls.append(text) or _stand_in_score(text))
                breeder = Breeder(config, genome, store=store, log_line=lambda line: None,
                                  progress=lambda *_: after_step.append(len(backend.requests)))
                breeder.run()
                breeder.report()
        finally:
            cache.close()
    counts: dict[str, int] = {}
    for request in backend.requests:
        counts[request.name or "<anonymous>"] = counts.get(request.name or "<anonymous>", 0) + 1
    projection = Projection(config.evolution_generations, counts, after_step, evaluations=len(stand_in_calls))
    return projection, backend, time_objective


def measure(projection: Projection, simulated: FakeBackend, make_backend: Callable[[], Any], batch: int,
            time_objective: Callable[[], None] | None) -> None:
    """Time a few simulated queries of each kind on the real backend, and one real objective evaluation."""
    started = time.perf_counter()
    backend = make_backend()
    try:
        by_name: dict[str, list[QueryRequest]] = {}
        for request in simulated.requests:
            by_name.setdefault(request.name or "<anonymous>", []).append(request)
        first = True
        for name, requests in by_name.items():
            step = max(len(requests) // min(len(requests), batch), 1)
            sample = requests[::step][:batch]
            began = time.perf_counter()
            results = backend.run_many(sample)
            seconds = time.perf_counter() - began
            if first:  # the first call also loads the model
                projection.startup_seconds, first = time.perf_counter() - started - seconds, False
            tokens = sum(r.generated_tokens for r in results) / len(results)
            projection.per_query[name] = (seconds / len(sample), tokens)
    finally:
        backend.close()
    if time_objective is not None and projection.evaluations:
        began = time.perf_counter()
        time_objective()
        projection.seconds_per_evaluation = time.perf_counter() - began


def format_projection(projection: Projection, config: RunConfig, task_name: str) -> str:
    lines = [f"dry run of {task_name}: {config.population_size} units, {config.evolution_generations} generations,"
             f" model {config.model_name_or_path} (counted on a simulated run, timed on up to"
             f" {min(PROBE_PER_KIND, config.client_batch_size)} real queries per kind)",
             f"  {'query':<22}{'calls':>9}{'tokens':>11}{'seconds':>10}"]
    for name, count in sorted(projection.counts.items(), key=lambda item: -item[1]):
        seconds, tokens = projection.per_query.get(name, (0.0, 0.0))
        lines.append(f"  {name:<22}{count:>9,}{count * tokens:>11,.0f}{count * seconds:>10,.0f}")
    if projection.evaluations:
        per = projection.seconds_per_evaluation
        lines.append(f"  {'objective evaluations':<22}{projection.evaluations:>9,}{'':>11}"
                     f"{(projection.evaluations * per if per is not None else 0):>10,.0f}")
    calls, tokens, seconds = projection.total()
    lines.append(f"  {'total':<22}{calls:>9,}{tokens:>11,.0f}{seconds:>10,.0f}"
                 f"   (~{seconds / 60:.1f} min, model start-up {projection.startup_seconds:.0f} s included)")
    if config.max_llm_calls is not None:
        step = projection.step_reaching(config.max_llm_calls)
        lines.append(f"max_llm_calls {config.max_llm_calls}: "
                     + ("not reached" if step is None else f"reached during step {step}; the run stops after it"))
    lines.append("nothing was written; a fresh run's answers are not yet in any cache, so these are all model calls")
    return "\n".join(lines)
