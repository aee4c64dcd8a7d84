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
from promptbreeder.scorers.llm_scorer import LLMScorer



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
    """Optimise `x0` for `task`/`question` under `f`; see the module docstring. Without `backend`, `model`
    (any form `--model_name_or_path` takes: the embedded model's name, a local folder, a GGUF file,
    'openai-compat:<model>@<base url>', an LMQL model string) is loaded or reached here and closed again at
    the end; `stop_score` ends the search once a candidate scores at least that; `run_dir` keeps a GA
    run's store."""
    if kind not in ("text", "code"):
        raise UsageError(f"kind must be 'text' or 'code' (got {kind!r})")
    if max_steps < 0 or population < 1:
        raise UsageError("max_steps must be >= 0 and population >= 1")
    if history_window < 1 or max_solution_tokens < 16:
        raise UsageError("history_window must be >= 1 and max_solution_tokens >= 16")
    decoder_options = DecoderOptions.parse(decoder)  # before loading a model: a bad decoder wastes nothing
    config = RunConfig(task="optimize", population_size=max(population, 2), evolution_generations=max_steps, seed=seed,
                       model_name_or_path=model)
    own_backend = backend is None
    if own_backend:  # any form the CLI's --model_name_or_path takes, checked before anything is loaded
        from promptbreeder.backends import check_reachable, create_backend

        spec = config.model_spec
        check_reachable(spec)
        backend = create_backend(config, spec)
    genome = TextGenome(config, task, question, f, x0, backend=backend, kind=kind,
                        query_text=package_query_text,
                        decoder=decoder_options, history_window=history_window,
                        max_solution_tokens=max_solution_tokens, stop_score=stop_score)
    lent = isinstance(f, LLMScorer) and f.backend is None
    if lent:  # a rubric scorer made without a model grades with the run's
        f.backend = backend
    try:
        if population == 1:
            steps, stopped = _chain(genome, max_steps, random.Random(seed))
        else:
            steps, stopped = _population(genome, config, max_steps, run_dir)
    finally:
        if lent:
            f.backend = None
        if own_backend:
            backend.close()
    best = max(genome.evaluations, key=lambda e: e["score"])
    return OptimizeResult(best["text"], best["score"], genome.evaluations, steps, stopped)


def _chain(genome: TextGenome, max_steps: int, rng: random.Random) -> tuple[int, str]:
    counter = iter(range(1, 10**9))
    [best], _ = genome.create(["x0"], rng)
    genome.score([([best], None)], 0)
    for step in range(1, max_steps + 1):
        if genome.target_reached():
            return step - 1, "stop_score"
        [birth] = genome.breed([best], [best], step, lambda: f"x{next(counter)}", rng)
        genome.score([([birth.child], None)], step)
        if birth.child.score > best.score:
            best = birth.child
    return max_steps, "stop_score" if genome.target_reached() else "max_steps"


def _population(genome: TextGenome, config: RunConfig, max_steps: int, run_dir: str | Path | None) -> tuple[int, str]:
    from promptbreeder.evolution import Breeder
    from promptbreeder.store.run_store import RunStore

    folder = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="pb-optimize-"))
    try:
        breeder = Breeder(config, genome, store=RunStore.create(folder, config.to_dict()), log_line=lambda line: None)
        breeder.run()
        return breeder.generation, "stop_score" if genome.target_reached() else "max_steps"
    finally:
        if run_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
