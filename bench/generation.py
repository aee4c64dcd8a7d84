"""One real breeding generation: our breeder against raw batched HF `generate` on the same prompts.

A population is initialised (not timed); then one generation (fitness of every pair on its batch,
mutations, retries) runs through our backend and is timed. What is warm: the initialisation ran on the
same engine, so the queries are compiled and the prompt cache holds what initialising computed (the
units' prompts among it), as in a real run, where generation 1 always follows generation 0.
Raw HF (`bench/raw.py`) then generates, greedily, the same number of tokens from the prompts of every
single-answer query that generation sent (rendered prompt up to the answer), sorted by prompt length,
at batch sizes 1/8/16/32/all; its best batch size is the baseline. Our time covers the whole generation
(interpreting queries, mutation, scoring); raw only the generate calls. Finally the same generation is
replayed from its starting snapshot to show what a repeated evaluation costs.
Last line: `ratio=<raw's best seconds / ours>` (> 1: ours is faster).
Usage: python bench/generation.py [--population 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import raw

from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.lmql.backend import LMQLLocalBackend
from promptbreeder.backends.models import resolve_model
from promptbreeder.config import RunConfig, resolve_config
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
from promptbreeder.genomes.prompt.genome import PromptGenome
from promptbreeder.store.cache import CallCache
from promptbreeder.store.run_store import RunStore

ROOT = Path(__file__).resolve().parents[1]


class Recording(CachingBackend):
    """Keeps every (request, result) pair, to know which prompts the generation sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = []

    def run_many(self, requests):
        results = super().run_many(requests)
        self.log.extend(zip(requests, results))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="fitness examples per tournament")
    defaults = RunConfig()  # ours runs as a run with default settings would, unless told otherwise
    parser.add_argument("--server_batch_size", type=int, default=defaults.server_batch_size)
    parser.add_argument("--client_batch_size", type=int, default=defaults.client_batch_size)
    parser.add_argument("--chunk_size", type=int, default=defaults.chunk_size)
    parser.add_argument("--task", default="arithmetic_1_digit_addition")
    parser.add_argument("--repeats", type=int, default=2, help="of each raw batch size")
    args = parser.parse_args()

    day_care = load_day_care(ROOT / "day_care")
    task = day_care.task(args.task)
    work = Path(tempfile.mkdtemp(prefix="pb-bench-"))
    config = resolve_config({"task": task.name, "day_care_dir": str(ROOT / "day_care"), "population_size": args.population,
                             "initial_prompts_per_unit": 1, "evolution_generations": 1, "fitness_batch_size": args.batch,
                             "test_CoT": False, "server_batch_size": args.server_batch_size,
                             "client_batch_size": args.client_batch_size, "chunk_size": args.chunk_size}, None)
    model = LMQLLocalBackend(resolve_model(config.model_name_or_path).local_dir(), client_batch_size=args.client_batch_size,
                             server_batch_size=args.server_batch_size, chunk_size=args.chunk_size)

    def breeder_for(store, cache):
        backend = Recording(model, cache, model=config.model_name_or_path)
        evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task, backend), seed=config.seed,
                                     cache=cache, model=config.model_name_or_path)
        genome = PromptGenome(config, task.description, mutation_prompts=[p.text for p in day_care.mutation_prompts],
                              thinking_styles=[p.text for p in day_care.thinking_styles], suite=task.load_suite(),
                              backend=backend, evaluator=evaluator, query_text=lambda n: day_care.query_text(n, task.name),
                              mutation_decoder=task.decoder)
        breeder = Breeder(config, genome, store=store, log_line=lambda line: None)
        return breeder, backend

    store = RunStore.create(work / "runs", config.to_dict())
    cache = CallCache(store.cache_path)
    breeder, backend = breeder_for(store, cache)
    breeder.initialise()
    shutil.copytree(store.folder, work / "replay" / "run_1")  # the state before the timed generation
    backend.log.clear()
    before = backend.usage.calls
    engine_before = dict(model.engine.stats.as_dict())
    started = time.perf_counter()
    breeder.run_generation(1)
    ours_seconds = time.perf_counter() - started
    calls = backend.usage.calls - before
    engine_after = model.engine.stats.as_dict()
    engine = {k: engine_after[k] - engine_before[k] for k in ("generate_calls", "score_calls", "rows", "forward_passes",
                                                              "prompt_tokens", "generated_tokens", "seconds")}

    jobs = []
    for request, result in backend.log:
        holes = [v for v in result.variables.values() if v]
        if result.ok and not result.cached and len(holes) == 1 and result.prompt.endswith(holes[0]):
            jobs.append((result.prompt[: -len(holes[0])], max(result.generated_tokens, 1)))
    tokens = sum(n for _, n in jobs)
    sweep = raw.sweep(lambda size: model.client.run_in_engine_thread(raw.generate_jobs, model.engine, jobs, size),
                      args.repeats, print)
    raw_size, raw_seconds, _ = raw.best_of(sweep)

    # the copy holds the run as it was before the generation; the cache already holds its calls
    replay, replay_backend = breeder_for(RunStore(work / "replay" / "run_1"), cache)
    replay.resume()
    replay.run_generation(1)
    same = replay.state()["population"] == breeder.state()["population"]
    replay_backend.close()
    backend.close()  # closes the model too
    cache.close()
    shutil.rmtree(work, ignore_errors=True)

    print(f"generation of {args.population} units x {args.batch} examples: {calls} model queries, {len(jobs)} single-answer"
          f" prompts, {tokens} answer tokens")
    print(f"ours (whole generation, after an untimed initialisation on the same engine): {ours_seconds:.2f} s = {tokens / ours_seconds:.1f} tok/s")
    print(f"  engine during it: {engine['generate_calls']} generate calls ({engine['rows']} rows, {engine['forward_passes']}"
          f" forward passes, {engine['prompt_tokens']} prompt tokens in), {engine['seconds']:.2f} s computing")
    print(f"raw HF generate (same prompts, same token counts, generate calls only), best batch size"
          f" {raw_size or 'all'}: {raw_seconds:.2f} s = {tokens / raw_seconds:.1f} tok/s")
    print(f"repeated generation from the same snapshot: {replay_backend.usage.calls} model queries,"
          f" {replay_backend.usage.cached_calls} answered from the call cache, {replay.genome.evaluator.cached_results}"
          f" fitness results from the results cache, same population: {same}")
    print(f"ratio={raw_seconds / ours_seconds:.2f}")


if __name__ == "__main__":
    main()
