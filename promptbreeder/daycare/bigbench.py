"""Turn a BIG-bench `task.json` into a day care task folder (suite JSONL + task_description.json + README).

    python -m promptbreeder.daycare.bigbench TASK_JSON OUT_DIR --name NAME --answer_type number [--limit 200]

BIG-bench examples are `{"input", "target"}` or `{"input", "target_scores": {choice: score}}`. For
answer_type "number"/"text" the gold is `target` (or the best-scored choice when there is no target); for
"choice" the choices are the `target_scores` keys in their original order and the gold is the best one.
The written folder is checked by loading it back, so a converter bug cannot ship an invalid task.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from promptbreeder.daycare.jsonio import fail, read_json
from promptbreeder.errors import PromptbreederError, UsageError

SUITE_FILE = "fitness_suite.jsonl"
DEFAULT_SCORER = {"choice": {"type": "multiple_choice"}, "number": {"type": "numeric"}, "text": {"type": "exact_match"}}
_LICENCE = (
    "BIG-bench (https://github.com/google/BIG-bench), Apache License 2.0. "
    "Converted with `python -m promptbreeder.daycare.bigbench`; inputs and labels are unchanged."
)


def _best_choice(scores: dict[str, Any], file: Path, where: str) -> str:
    best = max(scores.values())
    winners = [choice for choice, score in scores.items() if score == best]
    if len(winners) != 1 or best <= 0:
        raise fail(file, f"{where}.target_scores", "expected exactly one best-scored choice")
    return winners[0]


def convert_examples(task: dict[str, Any], name: str, answer_type: str, file: Path, limit: int | None = None):
    """The day care examples of a parsed BIG-bench task (first `limit` ones)."""
    raw = task.get("examples")
    if not isinstance(raw, list) or not raw:
        raise fail(file, "$.examples", "expected a non-empty list of BIG-bench examples")
    gold_key, out = "gold_" + name, []
    for i, example in enumerate(raw[:limit] if limit else raw):
        where = f"$.examples[{i}]"
        scores = example.get("target_scores")
        row: dict[str, Any] = {"input": str(example.get("input", "")).strip()}
        if answer_type == "choice":
            if not isinstance(scores, dict) or len(scores) < 2:
                raise fail(file, f"{where}.target_scores", "expected at least 2 scored choices for a choice task")
            row["choices"] = list(scores)
            row[gold_key] = _best_choice(scores, file, where)
        else:
            target = example.get("target")
            if isinstance(target, list):  # several acceptable targets: the first is the canonical one
                target = target[0] if target else None
            if target is None and isinstance(scores, dict):
                target = _best_choice(scores, file, where)
            if target is None:
                raise fail(file, where, "expected a 'target' or 'target_scores'")
            row[gold_key] = str(target).strip()
        out.append(row)
    return out


def bigbench_to_task(
    task_json_path: str | Path,
    out_dir: str | Path,
    name: str,
    answer_type: str,
    *,
    limit: int | None = None,
    task_description: str | None = None,
    seed_prompts: Sequence[str] | None = None,
    fitness_scorer: dict[str, Any] | None = None,
    decoder_options: str = "sample(temperature=0.8, top_p=0.95)",
    fitness_decoder_options: str = "argmax",
    answer_max_tokens: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `out_dir/name/` from a BIG-bench task.json and return that folder. Raises UsageError/DayCareError."""
    if answer_type not in DEFAULT_SCORER:
        raise UsageError(f"answer_type must be one of {', '.join(DEFAULT_SCORER)} (got {answer_type!r})")
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be >= 1 (got {limit})")
    source = Path(task_json_path)
    task = read_json(source, "a BIG-bench task.json")
    if not isinstance(task, dict):
        raise fail(source, "$", "expected a BIG-bench task object")
    examples = convert_examples(task, name, answer_type, source, limit)
    folder = Path(out_dir) / name
    if folder.exists() and not overwrite:
        raise UsageError(f"{folder} already exists (pass overwrite=True / --overwrite to replace its files)")
    folder.mkdir(parents=True, exist_ok=True)
    description = task_description or str(task.get("task_prefix") or task.get("description") or name).strip()
    spec: dict[str, Any] = {
        "task_description": description,
        "fitness_scorer": fitness_scorer or DEFAULT_SCORER[answer_type],
        "decoder_options": decoder_options,
        "fitness_decoder_options": fitness_decoder_options,
        "fixed_system_prompt": None,
        "fitness_test_suite": SUITE_FILE,
        "answer_type": answer_type,
    }
    if answer_max_tokens is not None:
        spec["answer_max_tokens"] = answer_max_tokens
    if seed_prompts:
        spec["seed_prompts"] = list(seed_prompts)
    with open(folder / SUITE_FILE, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in examples)
    (folder / "task_description.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (folder / "README.md").write_text(_readme(name, source, task, len(examples), limit, answer_type), "utf-8")
    _check_written(folder)
    return folder


def _readme(name: str, source: Path, task: dict[str, Any], count: int, limit: int | None, answer_type: str) -> str:
    subset = f"the first {count} examples" if limit else f"all {count} examples"
    canary = task.get("canary", "")
    return (
        f"# {name}\n\n"
        f"Source: BIG-bench task `{source.parent.name}` ({task.get('name', source.parent.name)}: "
        f"{task.get('description', '').strip()}), {subset}, converted to `{SUITE_FILE}` "
        f"(`input`, `gold_{name}`{', `choices`' if answer_type == 'choice' else ''}).\n\n"
        f"Licence: {_LICENCE}\n\n"
        + (f"The source file carries the BIG-bench canary string, kept here with it:\n`{canary}`\n" if canary else "")
    )


def _check_written(folder: Path) -> None:
    # load the new task the way a run would; the day care root may lack prompt files, so go one level down
    from promptbreeder.daycare.loader import load_task_folder

    load_task_folder(folder).load_suite()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m promptbreeder.daycare.bigbench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("task_json", help="path of a BIG-bench task.json")
    parser.add_argument("out_dir", help="day care folder to write the task folder into")
    parser.add_argument("--name", required=True, help="task name (folder name; gold key is gold_<name>)")
    parser.add_argument("--answer_type", required=True, choices=sorted(DEFAULT_SCORER))
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N examples")
    parser.add_argument("--task_description", default=None)
    parser.add_argument("--seed_prompt", action="append", default=None, help="repeat for several seed prompts")
    parser.add_argument("--fitness_scorer", default=None, help='JSON object, e.g. \'{"type": "numeric"}\'')
    parser.add_argument("--decoder_options", default="sample(temperature=0.8, top_p=0.95)")
    parser.add_argument("--fitness_decoder_options", default="argmax")
    parser.add_argument("--answer_max_tokens", type=int, default=None)
    parser.add_argument("--overwrite", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scorer = json.loads(args.fitness_scorer) if args.fitness_scorer else None
    except json.JSONDecodeError as exc:
        print(f"error: --fitness_scorer is not JSON ({exc})", file=sys.stderr)
        return 2
    try:
        folder = bigbench_to_task(
            args.task_json, args.out_dir, args.name, args.answer_type, limit=args.limit,
            task_description=args.task_description, seed_prompts=args.seed_prompt, fitness_scorer=scorer,
            decoder_options=args.decoder_options, fitness_decoder_options=args.fitness_decoder_options,
            answer_max_tokens=args.answer_max_tokens, overwrite=args.overwrite,
        )
    except PromptbreederError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
