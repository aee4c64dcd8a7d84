"""Does the LLM surrogate know when it is wrong? The measurement behind (not) offering an entropy-aware
acquisition for the config genome.

An entropy-aware acquisition would use the model's uncertainty about its own prediction (the mean
next-token entropy while it writes the score, `calculate_entropy`) as the spread in EI/UCB, instead of, or
beside, the spread of a few sampled predictions. That helps only if the uncertainty tells the surrogate's
large errors from its small ones, and only if the predictions carry information at all. This script asks.

Per task (the HPO dev split by default): `--configs` random configurations are evaluated; the first
`--history` are the history the surrogate sees (as in a run: the shipped `config_surrogate` query, the
task's decoder, the history window), and it predicts each of the others `--samples` times with entropy
recorded. Per prediction: the mean predicted score, the spread of the samples, the mean token entropy, and
the error against the true score (scaled by the task's observed score range). Printed, with 95% bootstrap
intervals over predictions: Spearman(prediction, truth) per task (is the surrogate informative?),
Spearman(entropy, |error|) and Spearman(spread, |error|) pooled (does its uncertainty tell its errors?), and
the partial rank correlation of entropy and error given the spread (what entropy adds to the spread the
`llm` surrogate already uses). Results also go to `--out` (JSON, every reply).
Run it alone (a model process on 2 cores). Usage: python bench/surrogate_uncertainty.py [--tasks ...]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from promptbreeder.daycare.loader import load_day_care  # noqa: E402
from promptbreeder.genomes.hpo.genome import ConfigGenome, ConfigOptions, _number  # noqa: E402

DEV_TASKS = ("hpo_random_forest_digits", "hpo_decision_tree_wine", "hpo_svm_breast_cancer",
             "hpo_adaboost_iris", "hpo_mlp_diabetes")
MODEL = "smollm2-135m"


def spearman_ci(x: list[float], y: list[float], rng: np.random.Generator, draws: int = 2000) -> tuple[float, float, float]:
    x, y = np.asarray(x), np.asarray(y)
    point = float(spearmanr(x, y).statistic)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, len(x), len(x))
        if len(set(x[pick])) > 1 and len(set(y[pick])) > 1:
            values.append(float(spearmanr(x[pick], y[pick]).statistic))
    low, high = np.percentile(values, [2.5, 97.5]) if values else (float("nan"), float("nan"))
    return point, float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--history", type=int, default=12)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "surrogate_uncertainty.json"))
    args = parser.parse_args()

    from promptbreeder.backends.lmql.backend import LMQLLocalBackend
    from promptbreeder.backends.models import resolve_model

    day_care = load_day_care(ROOT / "day_care")
    backend = LMQLLocalBackend(resolve_model(MODEL).local_dir())
    backend.calculate_entropy = True
    rows, started = [], time.perf_counter()
    try:
        for name in args.tasks:
            task = day_care.task(name)
            rng = random.Random(f"{args.seed}:{name}")
            configs, seen = [], set()
            while len(configs) < args.configs:
                config = task.space.sample(rng)
                if task.space.key(config) not in seen:
                    seen.add(task.space.key(config))
                    configs.append(config)
            scores = [float(task.objective(c)) for c in configs]
            genome = ConfigGenome(None, task.description, task.space, task.objective, backend=backend,
                                  query_text=lambda q, n=name: day_care.query_text(q, n), direction=task.direction,
                                  decoder=task.decoder, options=ConfigOptions(surrogate="llm"))
            genome.load_state({"evaluations": [{"config": c, "score": s, "unit": f"h{i}"} for i, (c, s) in
                                               enumerate(zip(configs[:args.history], scores[:args.history]))]})
            held = list(zip(configs[args.history:], scores[args.history:]))
            requests = [genome._surrogate_request(c, rng) for c, _ in held for _ in range(args.samples)]
            results = backend.run_many(requests)
            span = (max(scores) - min(scores)) or 1.0
            for i, (config, truth) in enumerate(held):
                got = results[i * args.samples:(i + 1) * args.samples]
                values = [v for v in (_number(r.variables.get("SCORE")) if r.ok else None for r in got) if v is not None]
                entropy = [e for r in got for e in r.entropy]
                if not values or not entropy:
                    continue
                mean = statistics.fmean(values)
                rows.append({"task": name, "truth": truth, "prediction": mean, "replies": [r.variables.get("SCORE")
                             for r in got], "spread": statistics.pstdev(values) / span,
                             "entropy": statistics.fmean(entropy), "error": abs(mean - truth) / span})
            print(f"{name}: {len(held)} predictions, {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        backend.close()
    Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1) + "\n")
    rng = np.random.default_rng(args.seed)
    lines = [f"{len(rows)} predictions on {len(args.tasks)} tasks ({args.history} configurations of history,"
             f" {args.samples} samples each), {time.perf_counter() - started:.0f} s"]
    for name in args.tasks:
        mine = [r for r in rows if r["task"] == name]
        if len(mine) > 2 and len({r["prediction"] for r in mine}) > 1:
            rho, low, high = spearman_ci([r["prediction"] for r in mine], [r["truth"] for r in mine], rng)
            lines.append(f"  {name:28} Spearman(prediction, truth) {rho:+.2f} [{low:+.2f}, {high:+.2f}]")
        else:
            lines.append(f"  {name:28} one prediction for every configuration: no ranking at all")
        distinct = sorted({str(r["replies"]) for r in mine})[:3]
        lines.append(f"  {'':28} replies, e.g. {', '.join(distinct)}")
    for label, key in (("entropy", "entropy"), ("sample spread", "spread")):
        xs = [r[key] for r in rows]
        if len(set(xs)) > 1:
            rho, low, high = spearman_ci(xs, [r["error"] for r in rows], rng)
            lines.append(f"pooled Spearman({label}, |error|) {rho:+.2f} [{low:+.2f}, {high:+.2f}]")
        else:
            lines.append(f"pooled {label}: the same for every prediction")
    if len(rows) > 3:  # what entropy tells of the errors beyond what the sample spread already tells
        lines.append(f"pooled partial Spearman(entropy, |error| given spread) {partial_spearman(rows):+.2f}")
    print("\n".join(lines))


def partial_spearman(rows: list[dict]) -> float:
    from scipy.stats import rankdata

    entropy, spread, error = (rankdata([r[k] for r in rows]) for k in ("entropy", "spread", "error"))

    def residual(values: np.ndarray) -> np.ndarray:
        design = np.vstack([spread, np.ones_like(spread)]).T
        return values - design @ np.linalg.lstsq(design, values, rcond=None)[0]

    return float(np.corrcoef(residual(entropy), residual(error))[0, 1])


if __name__ == "__main__":
    main()
