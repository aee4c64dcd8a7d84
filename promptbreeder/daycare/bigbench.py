"""Turn a BIG-bench `task.json` into a day care task folder: the older spelling of `promptbreeder import`.

    python -m promptbreeder.daycare.bigbench TASK_JSON OUT_DIR --name NAME --answer_type number [--limit 200]

Kept so existing scripts work; the reading lives in `promptbreeder.importers.bigbench_task` and the
writing (checked by loading the folder back) in `promptbreeder.importers.task_writer`. Unlike
`promptbreeder import`, it needs --answer_type and takes the scorer and decoders as flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from promptbreeder.daycare.jsonio import fail, read_json
from promptbreeder.errors import PromptbreederError, UsageError
from promptbreeder.importers.base import ANSWER_TYPES
from promptbreeder.importers.bigbench_task import source_from_task
from promptbreeder.importers.task_writer import (
    DEFAULT_DECODER, DEFAULT_FITNESS_DECODER, SUITE_FILE, TaskSettings, create_task,
)

__all__ = ["SUITE_FILE", "bigbench_to_task", "convert_examples", "main"]


def convert_examples(task: dict[str, Any], name: str, answer_type: str, file: Path, limit: int | None = None):
    """The day care examples of a parsed BIG-bench task (first `limit` ones)."""
    return source_from_task(task, Path(file), limit).examples(name, answer_type)


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
    decoder_options: str = DEFAULT_DECODER,
    fitness_decoder_options: str = DEFAULT_FITNESS_DECODER,
    answer_max_tokens: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `out_dir/name/` from a BIG-bench task.json and return that folder. Raises UsageError/DayCareError."""
    if answer_type not in ANSWER_TYPES:
        raise UsageError(f"answer_type must be one of {', '.join(ANSWER_TYPES)} (got {answer_type!r})")
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be >= 1 (got {limit})")
    source_path = Path(task_json_path)
    task = read_json(source_path, "a BIG-bench task.json")
    if not isinstance(task, dict):
        raise fail(source_path, "$", "expected a BIG-bench task object")
    settings = TaskSettings(task_description=task_description, seed_prompts=list(seed_prompts or []),
                            fitness_scorer=fitness_scorer, decoder_options=decoder_options,
                            fitness_decoder_options=fitness_decoder_options, answer_max_tokens=answer_max_tokens)
    created = create_task(source_from_task(task, source_path, limit), name, out_dir, answer_type=answer_type,
                          settings=settings, force=overwrite, limit=limit)
    return created.folder


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m promptbreeder.daycare.bigbench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("task_json", help="path of a BIG-bench task.json")
    parser.add_argument("out_dir", help="day care folder to write the task folder into")
    parser.add_argument("--name", required=True, help="task name (folder name; gold key is gold_<name>)")
    parser.add_argument("--answer_type", required=True, choices=sorted(ANSWER_TYPES))
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N examples")
    parser.add_argument("--task_description", default=None)
    parser.add_argument("--seed_prompt", action="append", default=None, help="repeat for several seed prompts")
    parser.add_argument("--fitness_scorer", default=None, help='JSON object, e.g. \'{"type": "numeric"}\'')
    parser.add_argument("--decoder_options", default=DEFAULT_DECODER)
    parser.add_argument("--fitness_decoder_options", default=DEFAULT_FITNESS_DECODER)
    parser.add_argument("--answer_max_tokens", type=int, default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace the task files of an existing folder")
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
