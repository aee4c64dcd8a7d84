"""One real breeding generation: our breeder against raw batched HF `generate` on the same prompts.

A population is initialised (not timed); then one generation (fitness of every pair on its batch,
mutations, retries) runs through our backend and is timed. Raw HF then generates, greedily and in
batches of `--server_batch_size`, the same number of tokens from the prompts of every single-answer
query that generation sent (rendered prompt up to the answer). Our time covers the whole generation
(interpreting queries, mutation, scoring); raw only the generate calls. Finally the same generation
is replayed from its starting snapshot to show what a repeated evaluation costs.
Last line: `ratio=<ours/raw>` (tokens per second). Usage: python bench/generation.py [--population 8]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.lmql.backend import LMQLLocalBackend
from promptbreeder.backends.models import resolve_model
from promptbreeder.config import resolve_config
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


def raw_generate(engine, jobs: list[tuple[str, int]], batch_size: int) -> float:
    """Seconds raw batched greedy `generate` takes to produce `n` tokens after each prompt."""
    tokenizer = engine.tokenizer
    tokenizer.padding_side = "left"
    jobs = sorted(jobs, key=lambda job: job[1])  # similar lengths together, as a careful user would
    started = time.perf_counter()
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        batch = tokenizer([p for p, _ in chunk], return_tensors="pt", padding=True, add_special_tokens=False).to(engine.device)
        with torch.inference_mode():
            engine.model.generate(**batch, max_new_tokens=max(n for _, n in chunk), min_new_tokens=max(n for _, n in chunk),
                                  do_sample=False, pad_token_id=engine.pad_token_id)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="fitness examples per tournament")
    parser.add_argument("--server_batch_size", type=int, default=16)
    parser.add_argument("--task", default="arithmetic_1_digit_addition")
    args = parser.parse_args()

    day_care = load_day_care(ROOT / "day_care")
    task = day_care.task(args.task)
    work = Path(tempfile.mkdtemp(prefix="pb-bench-"))
    config = resolve_config({"task": task.name, "day_care_dir": str(ROOT / "day_care"), "population_size": args.population,
                             "initial_prompts_per_unit": 1, "evolution_generations": 1, "fitness_batch_size": args.batch,
                             "test_CoT": False, "server_batch_size": args.server_batch_size,
                             "client_batch_size": 64, "chunk_size": 16}, None)
    model = LMQLLocalBackend(resolve_model(config.model_name_or_path).local_dir(), client_batch_size=64,
                             server_batch_size=args.server_batch_size, chunk_size=16)

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
    raw_seconds = model.client.run_in_engine_thread(raw_generate, model.engine, jobs, args.server_batch_size)

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
    print(f"ours (whole generation): {ours_seconds:.2f} s = {tokens / ours_seconds:.1f} tok/s")
    print(f"  engine during it: {engine['generate_calls']} generate calls ({engine['rows']} rows, {engine['forward_passes']}"
          f" forward passes, {engine['prompt_tokens']} prompt tokens in), {engine['seconds']:.2f} s computing")
    print(f"raw HF generate (same prompts, same token counts, generate calls only): {raw_seconds:.2f} s"
          f" = {tokens / raw_seconds:.1f} tok/s")
    print(f"repeated generation from the same snapshot: {replay_backend.usage.calls} model queries,"
          f" {replay_backend.usage.cached_calls} answered from the call cache, {replay.genome.evaluator.cached_results}"
          f" fitness results from the results cache, same population: {same}")
    print(f"ratio={raw_seconds / ours_seconds:.2f}")


if __name__ == "__main__":
    main()
