"""Breeding benchmark: does a bred prompt beat the hand-written ones on examples evolution never saw?

For each task and seed, one real breeding run (`python -m promptbreeder`, as a user runs it) on the train
split; then the run's best unit (the fittest by training fitness: the one a user would take, not the best
on held-out data) against the best baseline on the held-out split. The baselines are the report's: the task
description, the same + "Let's think step by step.", and each of the task's seed prompts; per seed the
baseline with the highest held-out score is the one compared (the comparison most favourable to them).

Per task: the gain in held-out accuracy (bred - best baseline), its mean over seeds and a 95% bootstrap
interval that resamples seeds and, within each, held-out examples (paired: both sides on the same draw).
A task on which the model's success does not depend on the prompt (on >= 95% of held-out examples every
prompt, bred or baseline, was right, or every one was wrong) is reported as "no signal": selection there
is a coin toss.

Tasks: the shipped BIG-bench-derived day-care tasks plus the BIG-bench tasks in `--bigbench_dir`
(imported once with `promptbreeder import` into the benchmark's own day care). Runs are resumable: each
finished run is appended to `<out>/runs.jsonl`, and an interrupted run is continued
(`--continue_run_number`). Writes `<out>/table.md`, `<out>/gains.png` and docs/breeding_results.md.

Variants (`--variants paper reflective pareto merge all`): the same tasks and seeds bred once per variant,
the paper's operators alone or with one of GEPA's options (reflective mutation, Pareto selection, merge)
or all of them, every run stopped by the same `--max_metric_calls` budget (default: what the paper
setting spends in its 6 generations), so each variant gets the same number of scored answers. Each variant
is compared with the best baseline and, paired on the same held-out examples, with the paper variant of the
same seed. Written to `<out>/table.md` and the variants section of docs/breeding_results.md.

Usage: python bench/breed.py [--quick] [--tasks ...] [--seeds 3] [--report_only] [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_TASKS = ("arithmetic_1_digit_addition", "arithmetic_2_digit_subtraction", "logical_deduction_three_objects")
BIGBENCH_TASKS = ("arithmetic_1_digit_addition", "arithmetic_2_digit_subtraction", "date_understanding",
                  "disambiguation_qa", "logical_deduction_three_objects", "snarks")
IMPORTED_PREFIX = "bb_"
QUICK_TASK = "arithmetic_1_digit_addition"
# One run's settings: small enough for a 2-core CPU, the same for every task and seed.
RUN_SETTINGS = {"population_size": 8, "initial_prompts_per_unit": 1, "evolution_generations": 6,
                "fitness_batch_size": 20, "test_CoT": False, "test_noCoT": True, "use_wandb": False}
# Variants at an equal budget: the paper setting scores 8 units x 20 examples at step 0 and 4 pairs x 2 units
# x 20 examples in each of its 6 generations
PAPER_BUDGET = 8 * 20 + 6 * 4 * 2 * 20
VARIANTS = {"paper": {}, "reflective": {"reflective_mutation": True},
            "pareto": {"selection": "pareto", "pareto_examples": 20}, "merge": {"merge_units": True},
            "all": {"reflective_mutation": True, "selection": "pareto", "pareto_examples": 20, "merge_units": True}}
VARIANT_GENERATIONS = 60  # a cap the budget reaches first: a Pareto generation costs at most half a tournament one
VARIANTS_BEGIN, VARIANTS_END = "<!-- variants -->", "<!-- /variants -->"
HELDOUT_WANTED = 200  # held-out examples per seed where the data has them ...
HELDOUT_MAX_FRACTION = 0.7  # ... but never more than this share of a task's suite
NO_SIGNAL_SHARE = 0.95
BOOTSTRAP = 4000


def heldout_fraction(examples: int) -> float:
    return round(min(HELDOUT_MAX_FRACTION, max(0.2, HELDOUT_WANTED / max(examples, 1))), 3)


# -- the benchmark's day care ------------------------------------------------------------------------------

def prepare_day_care(out: Path, bigbench_dir: Path, wanted: list[str]) -> Path:
    """`out/day_care`: the shipped day care's prompts and tasks, plus the BIG-bench imports asked for."""
    day_care = out / "day_care"
    day_care.mkdir(parents=True, exist_ok=True)
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy2(ROOT / "day_care" / name, day_care / name)
    for task in wanted:
        if (day_care / task / "task_description.json").is_file():
            continue
        if task.startswith(IMPORTED_PREFIX):
            source = bigbench_dir / task[len(IMPORTED_PREFIX):] / "task.json"
            if not source.is_file():
                raise SystemExit(f"bench/breed.py: {source} not found (--bigbench_dir); tasks there:"
                                 f" {', '.join(sorted(p.parent.name for p in bigbench_dir.glob('*/task.json')))}")
            subprocess.run([sys.executable, "-m", "promptbreeder", "import", str(source), "--name", task,
                            "--day_care_dir", str(day_care)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        else:
            shutil.copytree(ROOT / "day_care" / task, day_care / task, ignore=shutil.ignore_patterns("*runs"))
    return day_care


def suite_size(day_care: Path, task: str) -> int:
    description = json.loads((day_care / task / "task_description.json").read_text())
    suite = day_care / task / description.get("fitness_test_suite", "fitness_suite.jsonl")
    return sum(1 for line in suite.read_text().splitlines() if line.strip())


# -- one run -------------------------------------------------------------------------------------------------

def settings_for(task: str, seed: int, examples: int, extra: dict | None = None) -> dict:
    return {**RUN_SETTINGS, **(extra or {}), "task": task, "seed": seed, "heldout_fraction": heldout_fraction(examples)}


def variant_settings(variant: str, budget: int) -> dict:
    """What a variant run sets on top of the benchmark's: its options, the budget and a generation cap."""
    return {**VARIANTS[variant], "max_metric_calls": budget, "evolution_generations": VARIANT_GENERATIONS}


def parse_setting(text: str) -> tuple[str, object]:
    """`NAME=VALUE` from --set: VALUE read as YAML would (true, 0.5, 12, text)."""
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, yaml.safe_load(value)


def unfinished_run(day_care: Path, task: str, settings: dict) -> int | None:
    """The number of an earlier run of these settings that was stopped before its report, if any."""
    for folder in sorted((day_care / task / "runs").glob("run_*")):
        config_file = folder / "config.json"
        if not config_file.is_file() or (folder / "report.json").is_file():
            continue
        saved = json.loads(config_file.read_text())
        saved = saved.get("config", saved)
        if all(saved.get(k) == v for k, v in settings.items() if k != "use_wandb"):
            return int(folder.name.split("_")[1])
    return None


def breed_once(day_care: Path, task: str, seed: int, examples: int, extra: dict) -> dict:
    settings = settings_for(task, seed, examples, extra)
    command = [sys.executable, "-m", "promptbreeder", "--day_care_dir", str(day_care)]
    for name, value in settings.items():
        command += [f"--{name}" if value is not False else f"--no-{name}"] if isinstance(value, bool) \
            else [f"--{name}", str(value)]
    resumed = unfinished_run(day_care, task, settings)
    if resumed is not None:
        command += ["--continue_run_number", str(resumed)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench/breed.py: the run of {task} seed {seed} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    folder = Path(re.search(r"run folder (\S+)", done.stdout).group(1))
    folder = folder if folder.is_absolute() else ROOT / folder
    report = json.loads((folder / "report.json").read_text())
    calls = re.search(r"(\d+) model queries", done.stdout)
    tokens = re.search(r"(\d+) generated tokens", done.stdout)
    best_id = report["best"]["id"]
    last = sorted((folder / "snapshots").glob("step_*.json"))[-1]
    state = json.loads(last.read_text())["state"]
    quality = state.get("quality_stats", {})
    rows = [{"name": r["name"], "bred": r["id"] is not None, "best": r["id"] == best_id,
             "task_prompts": r["task_prompts"], "train_fitness": r["train_fitness"],
             "scores": r["heldout_scores"]["noCoT"], "answers": r["heldout_answers"]["noCoT"]}
            for r in report["rows"]]
    return {"task": task, "seed": seed, "settings": settings, "run_folder": str(folder),
            "resumed": resumed is not None, "wall_s": round(wall, 1), "model_calls": int(calls.group(1)) if calls else None,
            "generated_tokens": int(tokens.group(1)) if tokens else None, "heldout_examples": report["heldout_examples"],
            "best": report["best"], "rows": rows, "quality": quality, "metric_calls": state.get("metric_calls"),
            "generations": report["generation"], "operator_stats": state.get("operator_stats", {})}


# -- analysis --------------------------------------------------------------------------------------------------

def compared(run: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """(best unit's held-out scores, best baseline's, that baseline's row) of one run."""
    unit = next(r for r in run["rows"] if r["best"])
    baseline = max((r for r in run["rows"] if not r["bred"]), key=lambda r: np.mean(r["scores"]))
    return np.asarray(unit["scores"], float), np.asarray(baseline["scores"], float), baseline


def signal_share(runs: list[dict]) -> float:
    """Share of held-out examples (over all seeds) on which some prompt scored otherwise than another."""
    varied = total = 0
    for run in runs:
        for scores in zip(*(r["scores"] for r in run["rows"])):
            total += 1
            varied += len(set(scores)) > 1
    return varied / total if total else 0.0


def bootstrap_gain(pairs: list[tuple[np.ndarray, np.ndarray]], rng_seed: int = 0) -> tuple[float, float, float]:
    """Mean over seeds of the held-out gain, and its 95% interval: seeds resampled, then examples within each
    (paired)."""
    rng = np.random.default_rng(rng_seed)
    point = float(np.mean([u.mean() - b.mean() for u, b in pairs]))
    draws = np.empty(BOOTSTRAP)
    for i in range(BOOTSTRAP):
        gains = []
        for s in rng.integers(0, len(pairs), size=len(pairs)):
            unit, base = pairs[s]
            idx = rng.integers(0, len(unit), size=len(unit))
            gains.append(unit[idx].mean() - base[idx].mean())
        draws[i] = np.mean(gains)
    low, high = np.quantile(draws, [0.025, 0.975])
    return point, float(low), float(high)


def best_scores(run: dict) -> np.ndarray:
    return np.asarray(next(r for r in run["rows"] if r["best"])["scores"], float)


def summarise_variant(task: str, variant: str, runs: list[dict], paper: dict[int, dict]) -> dict:
    """One variant on one task: `summarise`'s figures, plus the paired gain over the paper variant of the
    same seeds (None for the paper variant itself, or without paper runs to pair with)."""
    summary = {**summarise(task, runs), "variant": variant,
               "metric_calls": _mean_of_whole_runs(runs, "metric_calls"),
               "generations": float(np.mean([r.get("generations", 0) for r in runs])),
               "children": {name: _children(runs, name) for name in ("reflective", "merge")}}
    paired = [(best_scores(r), best_scores(paper[r["seed"]])) for r in runs if variant != "paper" and r["seed"] in paper]
    if paired:
        summary["vs_paper"] = bootstrap_gain(paired)
        summary["vs_paper_seed0"] = float(paired[0][0].mean() - paired[0][1].mean())
    return summary


def _children(runs: list[dict], operator: str) -> dict:
    """How often the variant's runs drew `operator`, how many children it made (the rest failed or were
    turned down and another operator took over), and how many of those beat their parent."""
    stats = [r.get("operator_stats", {}).get(operator, {}) for r in runs]
    tried, failed = (sum(s.get(key, 0) for s in stats) for key in ("used", "failed"))
    return {"tried": tried, "made": tried - failed, "beat_parent": sum(s.get("beat_parent", 0) for s in stats)}


def _children_cell(children: dict) -> str:
    return "-" if not children["tried"] else f"{children['tried']} / {children['made']} / {children['beat_parent']}"


def variant_table(summaries: list[dict]) -> str:
    lines = ["| task | variant | seeds | held-out / seed | bred | gain over best baseline [95% CI] | gain over paper [95% CI] |"
             " seed 0 over paper | metric calls / run | generations | reflective: tried / made / beat parent |"
             " merge: tried / made / beat parent | wall / run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        versus = "-" if "vs_paper" not in s else \
            "{:+.1f} [{:+.1f}, {:+.1f}]".format(*(100 * x for x in s["vs_paper"]))
        seed0 = "-" if "vs_paper_seed0" not in s else f"{100 * s['vs_paper_seed0']:+.1f}"
        lines.append(f"| {s['task']} | {s['variant']} | {s['seeds']} | {s['heldout']} | {s['bred']:.3f} |"
                     f" {100 * s['gain']:+.1f} [{100 * s['low']:+.1f}, {100 * s['high']:+.1f}] | {versus} | {seed0} |"
                     f" {_amount(s['metric_calls'])} | {s['generations']:.1f} |"
                     f" {_children_cell(s['children']['reflective'])} | {_children_cell(s['children']['merge'])} |"
                     f" {_amount(s['wall_s'], ' s')} |")
    return "\n".join(lines) + "\n"


def write_variant_docs(summaries: list[dict], path: Path, args) -> None:
    """Replace the variants section of `path` (between VARIANTS_BEGIN and VARIANTS_END; appended if absent)."""
    settings = {**RUN_SETTINGS, **dict(args.set), "max_metric_calls": args.max_metric_calls}
    section = "\n".join([
        VARIANTS_BEGIN, "## Beyond the paper: GEPA's options at an equal budget", "",
        f"Written by `make bench-breed ARGS=\"--variants ...\"` on {time.strftime('%Y-%m-%d')}; task model `smollm2-135m`,"
        f" mutation model `{settings.get('mutation_model') or 'smollm2-135m'}` (CPU, {_cores()} cores). Every run: "
        + ", ".join(f"`{k}={v}`" for k, v in settings.items())
        + f" (the paper setting's own count over its 6 generations), generations capped at {VARIANT_GENERATIONS}."
        " Variants: " + "; ".join(f"`{name}` " + (", ".join(f"`{k}={v}`" for k, v in extra.items()) or "the paper's operators and tournaments")
                                 for name, extra in VARIANTS.items()) + ".",
        "The bred unit is the run's best as its report picks it (training data only). \"Gain over paper\" pairs"
        " each seed's bred unit with the paper variant's of the same seed on the same held-out examples; the"
        " interval resamples seeds, then examples. For the reflective and merge operators, over the variant's"
        " runs: how often a child was to be made by it, how many it made (the rest failed or were turned down,"
        " and another operator made the child), and how many of those beat their parent.", "",
        variant_table(summaries),
        "What the figures mean: docs/prompt_breeding.md (\"Measured: GEPA's options\").", "", VARIANTS_END])
    text = path.read_text() if path.is_file() else "# Breeding results\n"
    if VARIANTS_BEGIN in text and VARIANTS_END in text:
        head, rest = text.split(VARIANTS_BEGIN, 1)
        text = head + section + rest.split(VARIANTS_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def summarise(task: str, runs: list[dict]) -> dict:
    pairs = [compared(run)[:2] for run in runs]
    share = signal_share(runs)
    gain, low, high = bootstrap_gain(pairs)
    if share < 1 - NO_SIGNAL_SHARE:
        verdict = "no signal"
    elif low > 0:
        verdict = "bred better"
    elif high < 0:
        verdict = "bred worse"
    else:
        verdict = "no clear difference"
    return {"task": task, "seeds": len(runs), "heldout": int(np.mean([r["heldout_examples"] for r in runs])),
            "bred": float(np.mean([u.mean() for u, _ in pairs])), "baseline": float(np.mean([b.mean() for _, b in pairs])),
            "gain": gain, "low": low, "high": high, "signal": share, "verdict": verdict,
            "gate_pass": _pass_rate(runs),
            # a continued run timed and counted only its last part
            "wall_s": _mean_of_whole_runs(runs, "wall_s"),
            "calls": _mean_of_whole_runs(runs, "model_calls"),
            "repeat0_gain": float(pairs[0][0].mean() - pairs[0][1].mean()),
            "baselines": [compared(r)[2]["name"].removeprefix("baseline: ") for r in runs],
            "prompts": [next(x for x in r["rows"] if x["best"])["task_prompts"] for r in runs]}


def _mean_of_whole_runs(runs: list[dict], key: str) -> float | None:
    whole = [r[key] or 0 for r in runs if not r.get("resumed")]
    return float(np.mean(whole)) if whole else None


def _pass_rate(runs: list[dict]) -> float | None:
    """Share of the operator outputs the quality gate judged that it let through, over the task's runs."""
    checked = sum(q["checked"] for r in runs for q in r.get("quality", {}).values())
    rejected = sum(q["rejected"] for r in runs for q in r.get("quality", {}).values())
    return 1 - rejected / checked if checked else None


def _amount(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def table(summaries: list[dict]) -> str:
    lines = ["| task | seeds | held-out / seed | best baseline | bred | gain [95% CI] | seed 0 gain | prompts disagree on | verdict | quality gate passed | wall / run | model calls / run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['task']} | {s['seeds']} | {s['heldout']} | {s['baseline']:.3f} | {s['bred']:.3f} |"
                     f" {100 * s['gain']:+.1f} [{100 * s['low']:+.1f}, {100 * s['high']:+.1f}] |"
                     f" {100 * s['repeat0_gain']:+.1f} | {100 * s['signal']:.0f}% | {s['verdict']} |"
                     f" {_percent(s['gate_pass'])} |"
                     f" {_amount(s['wall_s'], ' s')} | {_amount(s['calls'])} |")
    return "\n".join(lines) + "\n"


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in summaries if s["verdict"] != "no signal"]
    fig, ax = plt.subplots(figsize=(8, 0.6 * max(len(shown), 1) + 1.4))
    for y, s in enumerate(shown):
        ax.errorbar(100 * s["gain"], y, xerr=[[100 * (s["gain"] - s["low"])], [100 * (s["high"] - s["gain"])]],
                    fmt="o", color="tab:green" if s["low"] > 0 else "tab:gray", capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(shown)), [s["task"] for s in shown])
    ax.set_xlabel("gain in held-out accuracy over the best baseline (points; 95% CI)")
    ax.set_title("bred prompt vs best baseline (tasks without signal left out)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_docs(summaries: list[dict], path: Path, args) -> None:
    extra = dict(args.set)
    lines = ["# Breeding results", "",
             f"Written by `make bench-breed` (bench/breed.py) on {time.strftime('%Y-%m-%d')}; model `smollm2-135m`"
             f" (SmolLM2-135M-Instruct, CPU), {platform.machine()} machine with {_cores()} cores.", "",
             "Each run breeds on the train split with: "
             + ", ".join(f"`{k}={v}`" for k, v in {**RUN_SETTINGS, **extra}.items())
             + f"; the held-out split is {HELDOUT_WANTED} examples per seed where the task has them (at most"
             f" {int(100 * HELDOUT_MAX_FRACTION)}% of its suite). The bred unit is the run's best as the run reports it,"
             " chosen on training data alone (the 3 fittest re-ranked on up to `selection_examples` training"
             " examples); it is compared with the best baseline *on held-out data* (task description, + \"Let's think"
             " step by step.\", each seed prompt), which favours the baselines. Gains are in accuracy points; the"
             " interval resamples seeds and held-out examples (paired). \"Seed 0 gain\" is the first seed alone."
             " \"Prompts disagree on\" is the share of held-out examples on which one prompt was right and another wrong;"
             f" under {int(100 * (1 - NO_SIGNAL_SHARE))}% the task gives selection no signal on this model.", "",
             table(summaries), "", f"![gains]({args.docs.with_name('breeding_gains.png').name})", "",
             "What the figures mean and what limits them: docs/prompt_breeding.md (\"Measured\").", "",
             "## Bred prompts (best unit of each seed) and the baseline they were compared with", ""]
    for s in summaries:
        lines.append(f"**{s['task']}** ({s['verdict']}):")
        for seed, (prompts, baseline) in enumerate(zip(s["prompts"], s["baselines"])):
            lines.append(f"- seed {seed}: {' … '.join(prompts)!r} vs {baseline}")
        lines.append("")
    old = path.read_text() if path.is_file() else ""
    if VARIANTS_BEGIN in old and VARIANTS_END in old:  # the variants' section is written by its own runs
        lines.append(VARIANTS_BEGIN + old.split(VARIANTS_BEGIN, 1)[1].split(VARIANTS_END, 1)[0] + VARIANTS_END + "\n")
    path.write_text("\n".join(lines))


def _cores() -> int:
    import os

    return os.cpu_count() or 0


# -- main ----------------------------------------------------------------------------------------------------

def finished_runs(log: Path, key: tuple[str, ...]) -> dict[tuple, dict]:
    """The runs of `log` (runs.jsonl) by their `key` fields; a later line of the same key wins."""
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                done[tuple(run[k] for k in key)] = run
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", help="task names (bb_<name> for a BIG-bench import); default: all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help=f"one task ({QUICK_TASK}) and one seed")
    parser.add_argument("--bigbench_dir", type=Path, default=ROOT.parent / "shared" / "data" / "bigbench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "breed")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "breeding_results.md")
    parser.add_argument("--report_only", action="store_true", help="table, plot and docs from the runs done so far")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="a run setting on top of the benchmark's (e.g. start_from_seed_prompts=true); use"
                             " another --out and --docs for another configuration")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        help="breed each task and seed once per variant at an equal --max_metric_calls, and compare"
                             " them (default out: bench/results/breed_variants)")
    parser.add_argument("--max_metric_calls", type=int, default=PAPER_BUDGET,
                        help=f"the budget of every variant run (default {PAPER_BUDGET}: the paper setting's)")
    args = parser.parse_args()
    if args.variants:
        if args.out == parser.get_default("out"):
            args.out = ROOT / "bench" / "results" / "breed_variants"
        return run_variants(args)
    extra = dict(args.set)
    tasks = [QUICK_TASK] if args.quick else (args.tasks or list(SHIPPED_TASKS) + [IMPORTED_PREFIX + t for t in BIGBENCH_TASKS])
    seeds = 1 if args.quick else args.seeds
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    done = finished_runs(log, ("task", "seed"))
    if not args.report_only:
        day_care = prepare_day_care(args.out, args.bigbench_dir, tasks)
        for task in tasks:
            examples = suite_size(day_care, task)
            for seed in range(seeds):
                if (task, seed) in done and done[(task, seed)]["settings"] == settings_for(task, seed, examples, extra):
                    continue
                print(f"breeding {task} seed {seed} ...", flush=True)
                run = breed_once(day_care, task, seed, examples, extra)
                done[(task, seed)] = run
                with log.open("a") as f:
                    f.write(json.dumps(run) + "\n")
                unit, base, baseline = compared(run)
                print(f"  bred {unit.mean():.3f} vs {baseline['name']} {base.mean():.3f} on {len(unit)} held-out;"
                      f" {run['wall_s']:.0f} s, {run['model_calls']} model calls", flush=True)
    summaries = []
    for task in tasks:
        runs = [done[(task, s)] for s in range(seeds) if (task, s) in done]
        if runs:
            summaries.append(summarise(task, runs))
    if not summaries:
        raise SystemExit("bench/breed.py: no finished runs yet")
    text = table(summaries)
    (args.out / "table.md").write_text(text)
    plot(summaries, args.out / "gains.png")
    shutil.copy2(args.out / "gains.png", args.docs.with_name("breeding_gains.png"))
    write_docs(summaries, args.docs, args)
    print(text)


def run_variants(args) -> None:
    """The --variants benchmark: each (task, seed, variant) bred once, resumable from <out>/runs.jsonl."""
    extra = dict(args.set)
    tasks = [QUICK_TASK] if args.quick else (args.tasks or [QUICK_TASK, IMPORTED_PREFIX + QUICK_TASK])
    seeds = 1 if args.quick else args.seeds
    variants = list(dict.fromkeys(["paper", *args.variants]))  # the paper variant is what the others pair with
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    done = finished_runs(log, ("task", "seed", "variant"))
    if not args.report_only:
        day_care = prepare_day_care(args.out, args.bigbench_dir, tasks)
        for seed in range(seeds):  # seed-major: an interrupted benchmark has every variant of its first seeds
            for task in tasks:
                examples = suite_size(day_care, task)
                for variant in variants:
                    wanted = {**extra, **variant_settings(variant, args.max_metric_calls)}
                    key = (task, seed, variant)
                    if key in done and done[key]["settings"] == settings_for(task, seed, examples, wanted):
                        continue
                    print(f"breeding {task} seed {seed} variant {variant} ...", flush=True)
                    run = {**breed_once(day_care, task, seed, examples, wanted), "variant": variant}
                    done[key] = run
                    with log.open("a") as f:
                        f.write(json.dumps(run) + "\n")
                    print(f"  best unit {best_scores(run).mean():.3f} on {run['heldout_examples']} held-out;"
                          f" {run['metric_calls']} metric calls, {run['generations']} generations,"
                          f" {run['wall_s']:.0f} s", flush=True)
    summaries = []
    for task in tasks:
        paper = {s: done[(task, s, "paper")] for s in range(seeds) if (task, s, "paper") in done}
        for variant in variants:
            runs = [done[(task, s, variant)] for s in range(seeds) if (task, s, variant) in done]
            if runs:
                summaries.append(summarise_variant(task, variant, runs, paper))
    if not summaries:
        raise SystemExit("bench/breed.py: no finished variant runs yet")
    text = variant_table(summaries)
    (args.out / "table.md").write_text(text)
    write_variant_docs(summaries, args.docs, args)
    print(text)


if __name__ == "__main__":
    main()
