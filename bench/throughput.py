"""Throughput: the same work through our LMQL backend and through raw HF at its best batch size.

Both run in this process on the same loaded weights, greedy. Kinds of work, `--prompts` each:
- chat: distinct short chat requests, `--tokens` new tokens each (nothing shared but the chat markup);
- shared: the shipped `fitness_noCoT` query with a free answer of `--tokens` tokens, one unit's prompt
  before different questions (a long shared prefix);
- number: the shipped `fitness_noCoT` on arithmetic_1_digit_addition (a one-line reply ending at "\\n");
- choice_mask: the shipped `fitness_noCoT` on logical_deduction_three_objects, the answer under LMQL's
  choice mask (what a server-side or `choice_by_likelihood: false` run does);
- choice_likelihood: the shipped `fitness_noCoT_likelihood` on the same task (what a run on a local
  model does by default: every choice scored, nothing generated).
The fitness kinds' requests come from the evaluator itself (`FitnessEvaluator.requests`); the backend has
the run defaults' client/server batch sizes and chunk size (`RunConfig`) unless flags say otherwise.

Raw HF (`bench/raw.py`): the prompts our run rendered (up to the answer), sorted by prompt length, at
batch sizes 1/8/16/32/all, each row producing as many tokens as ours produced for it (choice likelihood:
one forward pass per prompt + choice). Its best batch size in that sweep is the baseline.

Warm or cold: queries are compiled and the weights touched before timing (a run pays that once); before
every repeat of ours the engine's prompt caches are emptied (`HFEngine.reset_caches`), so every repeat is
cold. Raw has no caches. The machine's speed drifts over minutes, so after the sweep ours and raw at its
best batch size run in `--repeats` pairs, back to back (`raw.paired`); per kind, `ratio` = the median over
pairs of raw's seconds / ours for the same work (> 1: ours is faster) with its 95% bootstrap interval,
beside the ratio of each side's best and that of repeat 0 (ours' first run, raw's sweep). Last line:
`ratio=` over all kinds (sum of raw's median seconds / sum of ours').
Usage: python bench/throughput.py [--prompts 32] [--tokens 48] [--repeats 5] [--kinds chat shared ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import raw

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.lmql.backend import LMQLLocalBackend
from promptbreeder.backends.models import resolve_model
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("chat", "shared", "number", "choice_mask", "choice_likelihood")
TOPICS = ["the sea", "a library", "winter", "bees", "a train", "coffee", "the moon", "a garden",
          "rain", "mountains", "a violin", "bread", "a lighthouse", "chess", "autumn", "a bridge"]
CHAT_QUERY = '"{:user}{request}{:assistant}[ANSWER]" where len(TOKENS(ANSWER)) < answer_max_tokens'
UNIT = Candidate("Read the question carefully. Work out the answer step by step in your head, check it once more,"
                 " and then reply with the answer only, without any explanation.")


def chat_requests(n: int, tokens: int) -> list[QueryRequest]:
    return [QueryRequest(query=CHAT_QUERY, name="chat", inputs={
        "request": f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}{'' if i < len(TOPICS) else f' ({i})'}.",
        "answer_max_tokens": tokens + 1}) for i in range(n)]


def fitness_requests(day_care, backend, task_name: str, n: int, by_likelihood: bool,
                     answer_type: str | None = None, tokens: int | None = None) -> list[QueryRequest]:
    task = day_care.task(task_name)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task, backend),
                                 choice_by_likelihood=by_likelihood)
    examples = [json.loads(line) for line in (task.dir / "fitness_suite.jsonl").read_text().splitlines()[:n]]
    requests = evaluator.requests(UNIT, examples, "noCoT")
    if answer_type is not None:  # the shared-prefix kind: the same query with a free answer of `tokens` tokens
        for request in requests:
            request.inputs.update(answer_type=answer_type, answer_max_tokens=tokens + 1)
    return requests


def ours(backend, requests: list[QueryRequest]) -> tuple[list, float]:
    backend.engine.reset_caches()  # cold: no prompt state of an earlier repeat is reused
    started = time.perf_counter()
    results = backend.run_many(requests)
    seconds = time.perf_counter() - started
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"bench query failed: {failed[0]}")
    return results, seconds


def raw_work(kind: str, requests: list[QueryRequest], results: list):
    """What raw must do for the same work: (prompt, tokens) jobs, or (prompt, choice) pairs to score."""
    if kind == "choice_likelihood":
        pairs = []
        for request, result in zip(requests, results):
            answer = result.variables["ANSWER"]
            prompt = result.prompt[: len(result.prompt) - len(answer)] if result.prompt.endswith(answer) else result.prompt
            pairs += [(prompt, choice) for choice in request.inputs["choices"]]
        return pairs
    jobs = []
    for result in results:
        answer = result.variables["ANSWER"]
        if not result.prompt.endswith(answer):
            raise SystemExit(f"cannot find the answer at the end of the rendered prompt: {result.prompt[-200:]!r}")
        jobs.append((result.prompt[: len(result.prompt) - len(answer)], max(result.generated_tokens, 1)))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_name_or_path", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5, help="pairs of ours and raw at its best batch size")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    defaults = RunConfig()  # ours runs as a run with default settings would, unless told otherwise
    parser.add_argument("--client_batch_size", type=int, default=defaults.client_batch_size)
    parser.add_argument("--server_batch_size", type=int, default=defaults.server_batch_size)
    parser.add_argument("--chunk_size", type=int, default=defaults.chunk_size)
    args = parser.parse_args()

    model_dir = resolve_model(args.model_name_or_path).local_dir()
    backend = LMQLLocalBackend(model_dir, client_batch_size=args.client_batch_size,
                               server_batch_size=args.server_batch_size, chunk_size=args.chunk_size)
    print(f"ours: client_batch_size={args.client_batch_size} server_batch_size={args.server_batch_size}"
          f" chunk_size={args.chunk_size} (run defaults: {defaults.client_batch_size}, {defaults.server_batch_size},"
          f" {defaults.chunk_size}); every repeat cold (caches emptied), queries compiled before timing", flush=True)
    day_care = load_day_care(ROOT / "day_care")
    work = {
        "chat": lambda n: chat_requests(n, args.tokens),
        "shared": lambda n: fitness_requests(day_care, backend, "arithmetic_1_digit_addition", n, False, "text", args.tokens),
        "number": lambda n: fitness_requests(day_care, backend, "arithmetic_1_digit_addition", n, False),
        "choice_mask": lambda n: fitness_requests(day_care, backend, "logical_deduction_three_objects", n, False),
        "choice_likelihood": lambda n: fitness_requests(day_care, backend, "logical_deduction_three_objects", n, True),
    }
    for kind in args.kinds:  # warm-up: compile each query, touch the weights (not timed)
        ours(backend, work[kind](2))

    def log(line: str) -> None:
        print(line, flush=True)

    totals = {"raw": 0.0, "ours": 0.0}
    for kind in args.kinds:
        requests = work[kind](args.prompts)
        results, first = ours(backend, requests)  # repeat 0: what raw must then do for the same work
        tokens = sum(r.generated_tokens for r in results)
        log(f"{kind}: {len(requests)} queries, {tokens} {'scored' if kind == 'choice_likelihood' else 'generated'}"
            f" tokens; ours repeat 0: {first:.2f} s")
        jobs = raw_work(kind, requests, results)
        measure = raw.score_pairs if kind == "choice_likelihood" else raw.generate_jobs

        def raw_at(size: int) -> float:
            return backend.client.run_in_engine_thread(measure, backend.engine, jobs, size)

        size, raw_first, _ = raw.best_of(raw.sweep(raw_at, 1, log))
        measured = raw.paired(lambda: ours(backend, requests)[1], lambda: raw_at(size), args.repeats, log)
        median, low, high = raw.paired_ratio(measured)
        ours_best, raw_best = min(o for o, _ in measured), min(r for _, r in measured)
        ours_median, raw_median = (statistics.median(side) for side in zip(*measured))
        unit = f"{tokens / ours_median:.1f} tok/s vs raw {tokens / raw_median:.1f} tok/s" if kind != "choice_likelihood" \
            else f"{len(requests) / ours_median:.1f} answers/s vs raw {len(requests) / raw_median:.1f} answers/s"
        log(f"{kind}: raw's best batch size {size or 'all'}; {args.repeats} pairs, medians: ours {ours_median:.2f} s,"
            f" raw {raw_median:.2f} s ({unit}) ratio={median:.2f} [{low:.2f}, {high:.2f}]; best of each side:"
            f" {raw_best / ours_best:.2f}; repeat 0: ours {first:.2f} s, raw {raw_first:.2f} s"
            f" ratio={raw_first / first:.2f}")
        totals["raw"] += raw_median
        totals["ours"] += ours_median
    log(f"engine: {backend.engine.stats.as_dict()}")
    backend.close()
    log(f"all kinds (sums of the medians): raw {totals['raw']:.2f} s, ours {totals['ours']:.2f} s")
    log(f"ratio={totals['raw'] / totals['ours']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
