"""The end-of-run comparison on the held-out split: the best bred prompts against the baselines.

Training fitness is measured on the small batches the prompts were selected on, so it flatters them;
only the held-out examples, never seen during evolution, say whether breeding helped. Which bred unit
is "the best" is decided on training data alone (the genome's finalists, in order).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from promptbreeder.genomes.prompt.scoring import candidate, evaluate_groups
from promptbreeder.genomes.prompt.evaluator import Candidate
from promptbreeder.genomes.prompt.unit import Unit

STEP_BY_STEP = "Let's think step by step."


def heldout_report(evaluator: Any, variants: Sequence[str], finalists: Sequence[Unit], task_description: str,
                   heldout: list[dict], seed_prompts: Sequence[str] = (), context_shown: int = 0,
                   selection: dict[str, float] | None = None,
                   tokens: Callable[[Sequence[str]], int] | None = None) -> dict[str, Any]:
    """Score the finalists (bred units, best first) and the baselines on every held-out example, in one
    evaluator call. `selection` is each finalist's fitness on the selection examples, if it was measured;
    with `tokens` (a second objective) every row also gets its prompts' length, `prompt_tokens`.

    Baselines: the task description alone, with "Let's think step by step.", and each of the task's
    hand-written seed prompts. Each row keeps its per-example scores, answers and the scorer's feedback
    (`heldout_scores`, `heldout_answers`, `heldout_feedback`, per variant, in the order of `heldout`).
    """
    best = list(finalists)
    rows: list[dict[str, Any]] = [
        {"name": f"unit {u.id}", "id": u.id, "task_prompts": list(u.task_prompts), "system_prompt": u.system_prompt,
         "train_fitness": u.fitness, "selection_fitness": (selection or {}).get(u.id)}
        for u in best
    ]
    named = [("baseline: task description", task_description),
             ("baseline: task description + step by step", f"{task_description} {STEP_BY_STEP}")]
    seeds = [p for p in dict.fromkeys(seed_prompts) if p not in (task_description, named[1][1])]
    named += [(f"baseline: seed prompt {i}", p) for i, p in enumerate(seeds, 1)]
    baselines = [Candidate(prompt) for _, prompt in named]
    rows += [{"name": name, "id": None, "task_prompts": [prompt], "train_fitness": None, "selection_fitness": None}
             for name, prompt in named]
    if tokens is not None:
        for row in rows:
            row["prompt_tokens"] = tokens([p for p in [row.get("system_prompt"), *row["task_prompts"]] if p])
    candidates = [candidate(u, context_shown) for u in best] + baselines
    if heldout:
        outcomes = evaluate_groups(evaluator, [(candidates, heldout, v) for v in variants])
        for i, row in enumerate(rows):
            row["heldout"] = {v: outcome[i].fitness for v, outcome in zip(variants, outcomes)}
            # per example, in `heldout` order: what intervals and "does the answer depend on the prompt" need
            row["heldout_scores"] = {v: outcome[i].scores for v, outcome in zip(variants, outcomes)}
            row["heldout_answers"] = {v: outcome[i].answers for v, outcome in zip(variants, outcomes)}
            # the scorer's line on each answer ("right", or what was expected): why a prompt lost points
            row["heldout_feedback"] = {v: outcome[i].feedbacks for v, outcome in zip(variants, outcomes)}
            row["heldout_fitness"] = sum(row["heldout"].values()) / len(variants)
    else:  # a one-example suite keeps nothing back: say so rather than score on training data
        for row in rows:
            row["heldout"], row["heldout_fitness"] = {}, None
    top_unit = best[0] if best else None
    return {
        "heldout_examples": len(heldout),
        "variants": list(variants),
        "best": None if top_unit is None else {
            "id": top_unit.id, "task_prompts": list(top_unit.task_prompts), "system_prompt": top_unit.system_prompt,
            "mutation_prompt": top_unit.mutation_prompt,
            "thinking_style": top_unit.thinking_style, "fitness": top_unit.fitness, "generation": top_unit.generation,
            "operator": top_unit.operator,
        },
        "rows": rows,
    }


def prompt_line(task_prompts: Sequence[str], system_prompt: str | None = None) -> str:
    """A unit's prompts on one line, as reports and dashboards show them: its bred system prompt (if any)
    in brackets, then the prompts before and after the question."""
    line = " … ".join(p for p in list(task_prompts)[:2] if p)
    return line if system_prompt is None else f"[system: {system_prompt}] {line}"


def format_report(report: dict[str, Any]) -> str:
    """The report as lines of text for the console."""
    lines = [f"held-out comparison on {report['heldout_examples']} examples ({', '.join(report['variants'])}):"]
    second = report.get("second_objective")
    if second:
        lines[0] = (f"held-out comparison on {report['heldout_examples']} examples ({', '.join(report['variants'])});"
                    f" bred units: the front of score against prompt tokens, picked at {second['token_cost']:g}"
                    " score per token:")
    for row in report["rows"]:
        heldout = "   n/a" if row["heldout_fitness"] is None else f"{row['heldout_fitness']:6.3f}"
        train = "     -" if row["train_fitness"] is None else f"{row['train_fitness']:6.3f}"
        chosen = "" if row.get("selection_fitness") is None else f", selection {row['selection_fitness']:.3f}"
        length = f", {row['prompt_tokens']} tokens" if "prompt_tokens" in row else ""
        prompt = prompt_line(row["task_prompts"], row.get("system_prompt"))
        lines.append(f"  {heldout}  (train {train}{chosen}{length})  {row['name']}: {prompt}")
    said = verdict(report)
    if said:
        lines.append(said)
    return "\n".join(lines)


def verdict(report: dict[str, Any]) -> str | None:
    """One line: did the best bred unit beat the best baseline on the held-out examples, beyond noise?

    The difference is paired per example (mean over the variants), with its standard error; "beats" and
    "loses to" need the difference to exceed two standard errors, otherwise the split cannot tell them
    apart. None when there is no bred unit, no baseline or fewer than two held-out examples. A best unit
    that is a baseline's prompt as it was written (a run that starts from the seed prompts keeps them while
    no child beats them) is named as that baseline, not as bred.
    """
    scored = [r for r in report["rows"] if r.get("heldout_fitness") is not None and r.get("heldout_scores")]
    bred = next((r for r in scored if r["id"] is not None), None)
    baselines = [r for r in scored if r["id"] is None]
    if bred is None or not baselines:
        return None
    baseline = max(baselines, key=lambda r: r["heldout_fitness"])  # first of equals: the rows' order

    def per_example(row):
        columns = list(row["heldout_scores"].values())
        return [sum(values) / len(values) for values in zip(*columns)]

    diffs = [a - b for a, b in zip(per_example(bred), per_example(baseline))]
    n = len(diffs)
    if n < 2:
        return None  # one example has no standard error
    mean = sum(diffs) / n
    se = (sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) ** 0.5
    unchanged = next((b for b in baselines if _same_prompt(bred, b)), None)
    if unchanged is baseline:
        return (f"best unit {bred['id']} is the best baseline, {_short(baseline)}, unchanged"
                f" ({bred['heldout_fitness']:.3f}): breeding found no better prompt on its training data")
    name = f"bred {bred['name']}" if unchanged is None else f"{bred['name']} ({_short(unchanged)}, unchanged)"
    word = "beats" if mean > 2 * se else "loses to" if mean < -2 * se else "cannot be told apart from"
    return (f"best {name} ({bred['heldout_fitness']:.3f}) {word} the best baseline, "
            f"{_short(baseline)} ({baseline['heldout_fitness']:.3f}): "
            f"{100 * mean:+.1f} points, standard error {100 * se:.1f} over {n} held-out examples")


def _short(baseline_row: dict[str, Any]) -> str:
    return baseline_row["name"].removeprefix("baseline: ")


def _same_prompt(unit_row: dict[str, Any], baseline_row: dict[str, Any]) -> bool:
    """The unit asks exactly what the baseline asks: same prompts, no system prompt of its own, and the
    same held-out answers (a unit whose context is shown in its fitness tests asks more than its prompt)."""
    return (unit_row["task_prompts"] == baseline_row["task_prompts"] and not unit_row.get("system_prompt")
            and unit_row.get("heldout_answers") == baseline_row.get("heldout_answers"))
