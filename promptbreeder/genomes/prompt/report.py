"""The end-of-run comparison on the held-out split: the best bred prompts against the baselines.

Training fitness is measured on the small batches the prompts were selected on, so it flatters them;
only the held-out examples, never seen during evolution, say whether breeding helped. Which bred unit
is "the best" is decided on training data alone (the genome's finalists, in order).
"""

from __future__ import annotations

from typing import Any, Sequence

from promptbreeder.genomes.prompt.scoring import candidate, evaluate_groups
from promptbreeder.genomes.prompt.evaluator import Candidate
from promptbreeder.genomes.prompt.unit import Unit

STEP_BY_STEP = "Let's think step by step."


def heldout_report(evaluator: Any, variants: Sequence[str], finalists: Sequence[Unit], task_description: str,
                   heldout: list[dict], seed_prompts: Sequence[str] = (), context_shown: int = 0,
                   selection: dict[str, float] | None = None) -> dict[str, Any]:
    """Score the finalists (bred units, best first) and the baselines on every held-out example, in one
    evaluator call. `selection` is each finalist's fitness on the selection examples, if it was measured.

    Baselines: the task description alone, with "Let's think step by step.", and each of the task's
    hand-written seed prompts. Each row keeps its per-example scores and answers (`heldout_scores`,
    `heldout_answers`, per variant, in the order of `heldout`).
    """
    best = list(finalists)
    rows: list[dict[str, Any]] = [
        {"name": f"unit {u.id}", "id": u.id, "task_prompts": list(u.task_prompts), "train_fitness": u.fitness,
         "selection_fitness": (selection or {}).get(u.id)}
        for u in best
    ]
    named = [("baseline: task description", task_description),
             ("baseline: task description + step by step", f"{task_description} {STEP_BY_STEP}")]
    seeds = [p for p in dict.fromkeys(seed_prompts) if p not in (task_description, named[1][1])]
    named += [(f"baseline: seed prompt {i}", p) for i, p in enumerate(seeds, 1)]
    baselines = [Candidate(prompt) for _, prompt in named]
    rows += [{"name": name, "id": None, "task_prompts": [prompt], "train_fitness": None, "selection_fitness": None}
             for name, prompt in named]
    candidates = [candidate(u, context_shown) for u in best] + baselines
    if heldout:
        outcomes = evaluate_groups(evaluator, [(candidates, heldout, v) for v in variants])
        for i, row in enumerate(rows):
            row["heldout"] = {v: outcome[i].fitness for v, outcome in zip(variants, outcomes)}
            # per example, in `heldout` order: what intervals and "does the answer depend on the prompt" need
            row["heldout_scores"] = {v: outcome[i].scores for v, outcome in zip(variants, outcomes)}
            row["heldout_answers"] = {v: outcome[i].answers for v, outcome in zip(variants, outcomes)}
            row["heldout_fitness"] = sum(row["heldout"].values()) / len(variants)
    else:  # a one-example suite keeps nothing back: say so rather than score on training data
        for row in rows:
            row["heldout"], row["heldout_fitness"] = {}, None
    top_unit = best[0] if best else None
    return {
        "heldout_examples": len(heldout),
        "variants": list(variants),
        "best": None if top_unit is None else {
            "id": top_unit.id, "task_prompts": list(top_unit.task_prompts), "mutation_prompt": top_unit.mutation_prompt,
            "thinking_style": top_unit.thinking_style, "fitness": top_unit.fitness, "generation": top_unit.generation,
            "operator": top_unit.operator,
        },
        "rows": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as lines of text for the console."""
    lines = [f"held-out comparison on {report['heldout_examples']} examples ({', '.join(report['variants'])}):"]
    for row in report["rows"]:
        heldout = "   n/a" if row["heldout_fitness"] is None else f"{row['heldout_fitness']:6.3f}"
        train = "     -" if row["train_fitness"] is None else f"{row['train_fitness']:6.3f}"
        chosen = "" if row.get("selection_fitness") is None else f", selection {row['selection_fitness']:.3f}"
        prompt = " … ".join(p for p in row["task_prompts"][:2] if p)
        lines.append(f"  {heldout}  (train {train}{chosen})  {row['name']}: {prompt}")
    return "\n".join(lines)
