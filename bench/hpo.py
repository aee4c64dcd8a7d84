"""HPO benchmark: our config genome against random search and Optuna TPE on the Bayesmark-style suite.

Methods × tasks × seeds at a fixed budget of objective evaluations. Methods:
- random, tpe, cmaes, gp, qmc: `promptbreeder.genomes.hpo.baselines` (ask/tell; Optuna's samplers as shipped);
- ga: our GA engine with the config genome and no model (random start, perturbation, crossover);
- ga_forest: the same, each child screened by the tree-ensemble surrogate with expected improvement;
- llambo: our GA engine with the config genome on the embedded model (LLM warm start, LLM candidate
  sampling conditioned on the history and a target score), candidates screened by the forest surrogate
  (`--surrogate llm`: by the LLM's own predictions instead, as LLAMBO does, several times slower;
  `--surrogate generative`: by LLAMBO's generative surrogate, the LLM classing candidates good or bad);
- ours_tpe, ours_cmaes, ours_gp, ours_qmc: our GA engine with the config genome and `sampler` set (the
  Optuna sampler proposes every unit, one child per generation (SAMPLER_POPULATION); run store, resume and
  report as any run), no model;
- the hybrid's ingredients, each on ours_tpe, on the embedded model: ours_tpe_llm_start (the LLM proposes
  the start units), ours_tpe_llm_cand (for a share HYBRID_SHARE of the children the LLM proposes
  HYBRID_CANDIDATES configurations that compete with TPE's own draws under TPE's acquisition), and
  ours_tpe_hybrid (both).
Each run's curve (score per evaluation) is appended to `<out>/runs.jsonl` as soon as it ends, so an
interrupted benchmark resumes where it stopped. A row is reused only when everything that defines the run
matches: method, task, seed, budget, the method's settings and the package version (`run_key`). Then, per task, normalised regret (Bayesmark-like:
0 = the best score any run found, 1 = the mean score of random configurations) at the budget, mean and
95% bootstrap interval over tasks × seeds per method, written to `<out>/table.md` and plotted over
evaluations in `<out>/regret.png`.
Tasks come in two splits: `dev` (the 5 tasks the methods' settings were chosen on) and `test` (the other
20 `hpo_*` tasks of the day care, only ever reported).
The LLM methods run the embedded model unless `--model` names another (a stronger model behind an
OpenAI-compatible server: `--model openai-compat:<model>@<base url>`); the model is part of their resume key.
Usage: python bench/hpo.py [--split dev|test] [--budget 30] [--seeds 3] [--tasks ...] [--model M] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptbreeder import __version__  # noqa: E402
from promptbreeder.backends import check_reachable, create_backend  # noqa: E402
from promptbreeder.config import RunConfig  # noqa: E402
from promptbreeder.daycare.loader import load_day_care  # noqa: E402
from promptbreeder.evolution import Breeder  # noqa: E402
from promptbreeder.genomes.hpo.genome import ConfigGenome, ConfigOptions  # noqa: E402
from promptbreeder.genomes.hpo.baselines import make_searcher, run_search  # noqa: E402
from promptbreeder.genomes.hpo.regret import best_so_far, bootstrap_ci, normalised_regret  # noqa: E402
from promptbreeder.store.run_store import RunStore  # noqa: E402

DEV_TASKS = ("hpo_random_forest_digits", "hpo_decision_tree_wine", "hpo_svm_breast_cancer",
                 "hpo_adaboost_iris", "hpo_mlp_diabetes")
BASELINES = ("random", "tpe", "cmaes", "gp", "qmc")
ON_ENGINE = tuple(f"ours_{name}" for name in BASELINES if name != "random")
HYBRID = ("ours_tpe_llm_start", "ours_tpe_llm_cand", "ours_tpe_hybrid")
METHODS = (*BASELINES, "ga", "ga_forest", "llambo", *ON_ENGINE, *HYBRID)
LLM_METHODS = ("llambo", *HYBRID)
HYBRID_SHARE = 0.25
HYBRID_CANDIDATES = 4
MODEL = "smollm2-135m"
POPULATION = 6  # the GA methods: 6 evaluations to start, then up to 3 new ones per generation
# our engine with a sampler: one child per generation, so each proposal sees every evaluation before it, as in
# Optuna's own loop. Chosen on the dev split: ours_gp 0.057 with 3 children per generation, 0.022 with one.
SAMPLER_POPULATION = 2
REFERENCE_SAMPLES = 64
TIE = 1e-9  # regrets this close are equal: the same best score reached by two methods differs by rounding only
OPTION_DEFAULTS = dataclasses.asdict(ConfigOptions())  # left out of the resume key (run_key)
# what a run did before an option existed: a row saved then lacks the option, and ran as this value does
OPTIONS_BEFORE_THEY_EXISTED = {"sampler": None, "llm_candidates": 0.0}


class Budget(BaseException):
    """Raised inside the objective once the budget is spent: stops a run mid-generation (a BaseException, so
    the genome does not take it for a failing objective)."""


def method_options(method: str, surrogate: str) -> ConfigOptions | None:
    """The config genome's settings of one of our methods (None for the baselines)."""
    if method in BASELINES:
        return None
    if method.startswith("ours_"):
        llm_start = method in ("ours_tpe_llm_start", "ours_tpe_hybrid")
        share = HYBRID_SHARE if method in ("ours_tpe_llm_cand", "ours_tpe_hybrid") else 0.0
        sampler = method.split("_")[1]
        return ConfigOptions(warm_start="llm" if llm_start else "random", proposal="none", surrogate="none",
                             sampler=sampler, llm_candidates=share, num_candidates=HYBRID_CANDIDATES)
    llm = method == "llambo"
    if not llm:
        surrogate = "forest" if method == "ga_forest" else "none"
    return ConfigOptions(warm_start="llm" if llm else "random", proposal="llm" if llm else "none",
                         num_candidates=4 if surrogate in ("llm", "generative") else 2, surrogate=surrogate,
                         sampler=None)


def population(options: ConfigOptions) -> int:
    return SAMPLER_POPULATION if options.sampler else POPULATION


def run_settings(method: str, budget: int, surrogate: str, model: str = MODEL) -> dict:
    """Everything besides task and seed that decides what a run does: part of its resume key. `model` (any
    form `--model_name_or_path` takes) only matters to the LLM methods, so only their key holds it."""
    options = method_options(method, surrogate)
    settings = {"budget": budget, "version": __version__}
    if options is not None:
        settings.update(population=population(options), options=dataclasses.asdict(options))
    if method in LLM_METHODS:
        settings["model"] = model
    return settings


def run_key(method: str, task: str, seed: int, settings: dict) -> str:
    """A row saved before an option existed ran as OPTIONS_BEFORE_THEY_EXISTED says, so it matches a run with
    that value now; options at ConfigOptions' current defaults are then left out of the key, so a row saved
    before an option existed at its default matches a run now, and one saved at a default that has since
    changed does not."""
    if "options" in settings:
        options = OPTIONS_BEFORE_THEY_EXISTED | settings["options"]
        settings = settings | {"options": {k: v for k, v in options.items()
                                           if k not in OPTION_DEFAULTS or v != OPTION_DEFAULTS[k]}}
    return json.dumps([method, task, seed, settings], sort_keys=True)


def run_ours(task, day_care, seed: int, budget: int, backend, options: ConfigOptions) -> tuple[list[float], dict]:
    """The run's scores in evaluation order, and how many children each operator made (from the run's events:
    for the hybrid, `llm_proposal` counts the LLM configurations TPE took)."""
    scores: list[float] = []

    def objective(config):
        if len(scores) >= budget:
            raise Budget
        scores.append(float(task.objective(config)))
        return scores[-1]

    config = RunConfig(task=task.name, population_size=population(options), evolution_generations=10 * budget,
                       seed=seed)
    work = Path(tempfile.mkdtemp(prefix="pb-hpo-"))
    try:
        store = RunStore.create(work / "runs", config.to_dict())
        genome = ConfigGenome(config, task.description, task.space, objective, backend=backend,
                              query_text=lambda name: day_care.query_text(name, task.name),
                              direction=task.direction, decoder=task.decoder, options=options)
        breeder = Breeder(config, genome, store=store, log_line=lambda line: None)
        try:
            breeder.initialise()
            stall = 0
            while len(scores) < budget and stall < 20:  # a GA can revisit known configs: give up after 20 idle
                before = len(scores)
                breeder.run_generation(breeder.generation + 1)
                stall = stall + 1 if len(scores) == before else 0
        except Budget:
            pass
        operators = Counter(e["operator"] for e in store.events() if e["event"] == "tournament" and e["operator"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return scores, dict(sorted(operators.items()))


def model_config(model: str) -> RunConfig:
    """Settings whose model is `model` (any form `--model_name_or_path` takes), resolved and, for a server,
    reached now: a form no resolver accepts or a server that does not answer exits with the one-line reason
    before any run starts."""
    from promptbreeder.errors import PromptbreederError

    config = RunConfig(model_name_or_path=model)
    try:
        check_reachable(config.model_spec)
    except PromptbreederError as error:
        raise SystemExit(f"bench/hpo.py: --model {model}: {error}") from None
    return config


def run_baseline(task, method: str, seed: int, budget: int) -> list[float]:
    searcher = make_searcher(method, task.space, seed, direction=task.direction)
    return [score for _, score in run_search(searcher, task.objective, budget)]


def reference_score(task) -> float:
    rng = random.Random(12345)
    return statistics.fmean(task.objective(task.space.sample(rng)) for _ in range(REFERENCE_SAMPLES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--split", choices=["dev", "test"], default="dev",
                        help="dev: the 5 tasks settings were chosen on; test: the other hpo_* tasks (report only)")
    parser.add_argument("--tasks", nargs="+", default=None, help="instead of a split")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--surrogate", choices=["none", "forest", "llm", "generative"], default="forest",
                        help="llambo's surrogate (ga_forest always uses the forest, ga none)")
    parser.add_argument("--out", default=None, help="default: bench/results/hpo (dev) or bench/results/hpo_test (test)")
    parser.add_argument("--model", default=MODEL,
                        help="the LLM methods' model: any form --model_name_or_path takes, e.g. a stronger model"
                             " behind an OpenAI-compatible server, 'openai-compat:<model>@<base url>'"
                             f" (default: {MODEL}, the embedded model)")
    parser.add_argument("--report_only", action="store_true", help="table and plot from the runs done so far")
    args = parser.parse_args()

    # the model first: a bad --model leaves nothing behind, not even the output folder
    llm_config = model_config(args.model) if set(args.methods) & set(LLM_METHODS) and not args.report_only else None
    day_care = load_day_care(ROOT / "day_care")
    if args.tasks is None:
        every = sorted(name for name in day_care.task_names if name.startswith("hpo_"))
        args.tasks = list(DEV_TASKS) if args.split == "dev" else [n for n in every if n not in DEV_TASKS]
    out = Path(args.out or ROOT / "bench" / "results" / ("hpo" if args.split == "dev" else "hpo_test"))
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    done = {}
    if runs_file.exists():
        for line in runs_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[run_key(row["method"], row["task"], row["seed"], row.get("settings", {}))] = row
    tasks = {name: day_care.task(name) for name in args.tasks}
    settings = {method: run_settings(method, args.budget, args.surrogate, args.model) for method in args.methods}
    backend = None
    started = time.perf_counter()
    # cheapest methods first, then seed by seed over all tasks: an interrupted run leaves whole seeds
    for method in ([] if args.report_only else args.methods):
        for seed in range(args.seeds):
            for name, task in tasks.items():
                key = run_key(method, name, seed, settings[method])
                if key in done:
                    continue
                began = time.perf_counter()
                operators = None
                if method in BASELINES:
                    curve = run_baseline(task, method, seed, args.budget)
                else:
                    if backend is None and method in LLM_METHODS:
                        backend = create_backend(llm_config)  # our engine for local weights, a server's client
                    options = method_options(method, args.surrogate)
                    curve, operators = run_ours(task, day_care, seed, args.budget, backend, options)
                row = {"method": method, "task": name, "seed": seed, "budget": args.budget,
                       "settings": settings[method], "curve": curve, "seconds": round(time.perf_counter() - began, 2)}
                if operators is not None:
                    row["operators"] = operators
                with runs_file.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done[key] = row
                print(f"{name:32} {method:18} seed {seed}: best {max(curve) if curve else float('nan'):.4f} after"
                      f" {len(curve)} evaluations, {row['seconds']:.1f} s", flush=True)
    if backend is not None:
        backend.close()
    current = {key: row for key, row in done.items()
               if row["method"] in settings and key == run_key(row["method"], row["task"], row["seed"], settings[row["method"]])}
    report(current, tasks, args, out)
    print(f"total {time.perf_counter() - started:.0f} s")


def report(done: dict, tasks: dict, args, out: Path) -> None:
    """`done`: the rows run with the current settings only."""
    rows = [r for r in done.values() if r["task"] in tasks and r["method"] in args.methods]
    finished = {(r["method"], r["task"], r["seed"]) for r in rows}
    # compare methods on the same ground: only (task, seed) pairs every method has finished
    complete = {(r["task"], r["seed"]) for r in rows
                if all((m, r["task"], r["seed"]) in finished for m in args.methods)}
    rows = [r for r in rows if (r["task"], r["seed"]) in complete]
    tasks = {name: task for name, task in tasks.items() if any(r["task"] == name for r in rows)}
    references = {name: reference_score(task) for name, task in tasks.items()}
    best = {name: max(max(r["curve"]) for r in rows if r["task"] == name and r["curve"]) for name in tasks}
    regrets: dict[str, list[list[float]]] = {m: [] for m in args.methods}
    for r in rows:
        curve = best_so_far(r["curve"]) or [references[r["task"]]]
        curve = curve + [curve[-1]] * (args.budget - len(curve))  # a stalled run keeps its best
        if best[r["task"]] > references[r["task"]]:
            regrets[r["method"]].append(normalised_regret(curve, best[r["task"]], references[r["task"]]))
    lines = [f"# HPO benchmark: normalised regret at {args.budget} evaluations",
             "", f"tasks: {', '.join(tasks)}; (task, seed) pairs: {len(complete)}; 0 = best found by any run,"
             f" 1 = mean score of {REFERENCE_SAMPLES} random configurations",
             "", "| method | mean regret | 95% CI | runs | median seconds/run |", "|---|---|---|---|---|"]
    for method in args.methods:
        finals = [curve[-1] for curve in regrets[method]]
        if not finals:
            continue
        mean, low, high = bootstrap_ci(finals)
        # the median: a run that shared the machine (or waited through a suspend) would swamp a mean
        seconds = statistics.median(r["seconds"] for r in rows if r["method"] == method)
        lines.append(f"| {method} | {mean:.3f} | [{low:.3f}, {high:.3f}] | {len(finals)} | {seconds:.1f} |")
    lines += ["", "Per task (mean regret over seeds):", "", "| task | " + " | ".join(args.methods) + " |",
              "|---|" + "---|" * len(args.methods)]
    per_seed: dict[str, dict[str, dict[int, float]]] = {}  # method -> task -> seed -> final regret
    for name in tasks:
        cells = []
        for method in args.methods:
            finals = {r["seed"]: normalised_regret(best_so_far(r["curve"]), best[name], references[name])[-1]
                      for r in rows if r["task"] == name and r["method"] == method and r["curve"]}
            if finals:
                per_seed.setdefault(method, {})[name] = finals
            cells.append(f"{statistics.fmean(finals.values()):.3f}" if finals else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "random" in per_seed:  # the worst-case guard: a default must not lose to random search on any task
        lines += ["", "Tasks where a method's mean regret is above random search's (the difference's 95% bootstrap"
                  " interval over seeds, paired by seed; `significant` where it excludes 0):", ""]
        for method in args.methods:
            if method != "random" and method in per_seed:
                lines.append(above_random(method, per_seed[method], per_seed["random"]))
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    print(table)
    plot(regrets, args, out / "regret.png")


def above_random(method: str, regrets: dict[str, dict[int, float]], random_regrets: dict[str, dict[int, float]]) -> str:
    """One line: the tasks where `method`'s mean final regret is above random search's, each with the paired
    difference's interval, and how many of them are significantly above."""
    worse, significant = [], 0
    for name, by_seed in regrets.items():
        seeds = sorted(set(by_seed) & set(random_regrets.get(name, {})))
        differences = [by_seed[seed] - random_regrets[name][seed] for seed in seeds]
        if not differences or statistics.fmean(differences) <= TIE:
            continue
        mean, low, high = bootstrap_ci(differences)
        significant += low > TIE
        worse.append(f"{name} ({statistics.fmean(by_seed[s] for s in seeds):.3f} vs"
                     f" {statistics.fmean(random_regrets[name][s] for s in seeds):.3f}; difference {mean:+.3f}"
                     f" [{low:+.3f}, {high:+.3f}]{', significant' if low > TIE else ''})")
    return (f"- {method}: {len(worse)} of {len(regrets)}, {significant} significantly"
            + (f": {', '.join(worse)}" if worse else ""))


def plot(regrets: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for method, curves in regrets.items():
        if curves:
            mean = [statistics.fmean(c[i] for c in curves) for i in range(args.budget)]
            axes.plot(range(1, args.budget + 1), mean, label=method)
    axes.set_xlabel("evaluations")
    axes.set_ylabel("normalised regret (mean over tasks x seeds)")
    axes.set_yscale("symlog", linthresh=0.01)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
