"""`promptbreeder.optimize`: LLM-guided black-box optimisation of a text or a program from Python.

    result = promptbreeder.optimize("Write a haiku about rivers", "Make it vivid.", f, x0="...")

`f(x) -> (score, feedback)` scores a candidate (higher is better) and says what to fix. With
`population=1` the run is a single chain: each step asks the LLM to improve the best candidate so far,
showing it a bounded window of earlier attempts with their scores and feedback. With `population > 1`
the same text/code genome runs in the GA engine (binary tournaments, run store, resumable). Either way
every step's reasoning is kept in the history. Code is never run here: an `f` that runs generated code
must use `promptbreeder.sandbox.run_code` (the code task folders do).
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import Backend, DecoderOptions
from promptbreeder.config import RunConfig
from promptbreeder.errors import UsageError
from promptbreeder.genomes.text.genome import TextGenome
from promptbreeder.package_queries import package_query_text



@dataclass
class OptimizeResult:
    best: str
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)  # {"text", "score", "feedback", "unit", "reasoning"}
    steps: int = 0
    stopped: str = "max_steps"  # "max_steps" | "stop_score"


def optimize(task: str, question: str, f: Callable[[str], tuple[float, str]], x0: str, *,
             stop_score: float | None = None, max_steps: int = 10, population: int = 1, kind: str = "text",
             backend: Backend | None = None, model: str = "smollm2-135m", seed: int = 0, history_window: int = 5,
             decoder: str = "sample(temperature=0.7)", max_solution_tokens: int = 512,
             run_dir: str | Path | None = None) -> OptimizeResult:
    """Optimise `x0` for `task`/`question` under `f`; see the module docstring. `backend` defaults to the
    embedded model in this process (closed again at the end); `run_dir` keeps a GA run's store."""
    if kind not in ("text", "code"):
        raise UsageError(f"kind must be 'text' or 'code' (got {kind!r})")
    if max_steps < 0 or population < 1:
        raise UsageError("max_steps must be >= 0 and population >= 1")
    if history_window < 1 or max_solution_tokens < 16:
        raise UsageError("history_window must be >= 1 and max_solution_tokens >= 16")
    decoder_options = DecoderOptions.parse(decoder)  # before loading a model: a bad decoder wastes nothing
    own_backend = backend is None
    if own_backend:
        from promptbreeder.backends.lmql.backend import LMQLLocalBackend
        from promptbreeder.backends.models import resolve_model

        backend = LMQLLocalBackend(resolve_model(model).local_dir())

    config = RunConfig(task="optimize", population_size=max(population, 2), evolution_generations=max_steps, seed=seed)
    genome = TextGenome(config, task, question, f, x0, backend=backend, kind=kind,
                        query_text=package_query_text,
                        decoder=decoder_options, history_window=history_window,
                        max_solution_tokens=max_solution_tokens)
    try:
        if population == 1:
            steps, stopped = _chain(genome, max_steps, stop_score, random.Random(seed))
        else:
            steps, stopped = _population(genome, config, max_steps, stop_score, run_dir)
    finally:
        if own_backend:
            backend.close()
    best = max(genome.evaluations, key=lambda e: e["score"])
    return OptimizeResult(best["text"], best["score"], genome.evaluations, steps, stopped)


def _reached(genome: TextGenome, stop_score: float | None) -> bool:
    return stop_score is not None and max(e["score"] for e in genome.evaluations) >= stop_score


def _chain(genome: TextGenome, max_steps: int, stop_score: float | None, rng: random.Random) -> tuple[int, str]:
    counter = iter(range(1, 10**9))
    [best], _ = genome.create(["x0"], rng)
    genome.score([([best], None)], 0)
    for step in range(1, max_steps + 1):
        if _reached(genome, stop_score):
            return step - 1, "stop_score"
        [birth] = genome.breed([best], [best], step, lambda: f"x{next(counter)}", rng)
        genome.score([([birth.child], None)], step)
        if birth.child.score > best.score:
            best = birth.child
    return max_steps, "stop_score" if _reached(genome, stop_score) else "max_steps"


def _population(genome: TextGenome, config: RunConfig, max_steps: int, stop_score: float | None,
                run_dir: str | Path | None) -> tuple[int, str]:
    from promptbreeder.evolution import Breeder
    from promptbreeder.store.run_store import RunStore

    folder = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="pb-optimize-"))
    try:
        breeder = Breeder(config, genome, store=RunStore.create(folder, config.to_dict()), log_line=lambda line: None)
        breeder.initialise()
        for generation in range(1, max_steps + 1):
            if _reached(genome, stop_score):
                return generation - 1, "stop_score"
            breeder.run_generation(generation)
        return max_steps, "stop_score" if _reached(genome, stop_score) else "max_steps"
    finally:
        if run_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
