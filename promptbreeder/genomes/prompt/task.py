"""Prompt task folders: the task description, the scorer, decoders, answer type and the fitness suite.

```
<day_care>/<task>/task_description.json     checked with schemas/task_description.schema.json
<day_care>/<task>/<suite>.json | .jsonl      each example checked with schemas/example.schema.json
```
Structure is checked by JSON Schema, meaning by the code below (decoders parse, the scorer exists and
takes those arguments and that answer type, gold labels fit the answer type, the suite exists). Any
problem is a one-line DayCareError naming file, JSON path and expectation. The generation genome uses
the same folders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.errors import UsageError
from promptbreeder.genomes.kind import TASK_FILE
from promptbreeder.jsonio import check, fail, json_path, read_examples, schema
from promptbreeder.scorers.registry import scorer_class, spec_problem

DEFAULT_ANSWER_MAX_TOKENS = 48
# the inputs the fitness queries get from the run; an example's other fields reach them too (LLaMA Day
# Care's fitness examples carry what a task's own query needs), under their own names
FITNESS_INPUTS = ("system_prompt", "task_prompt", "task_prompt_after", "question", "choices", "answer_type",
                  "answer_max_tokens", "reasoning_max_tokens")


def example_fields(example: dict[str, Any]) -> dict[str, Any]:
    """The fields of an example a fitness query may read besides its question and choices: never a gold label."""
    return {key: value for key, value in example.items()
            if key not in ("input", "choices") and not key.startswith("gold_")}


@dataclass
class Task:
    """One task of a day care, validated; `load_suite` reads and validates its fitness examples."""

    name: str
    dir: Path
    description: str
    scorer_spec: dict[str, Any]
    decoder: DecoderOptions
    fitness_decoder: DecoderOptions
    fixed_system_prompt: str | None
    answer_type: str
    answer_max_tokens: int
    seed_prompts: list[str]
    genome: str
    suite_path: Path
    search_space: dict[str, Any] | None = None  # the generation genome's decoding parameters, if the task sets them
    # suite file -> (its size and modification time, its examples): a run's check and its genome read it once
    _suites: dict[Path, tuple[tuple[int, int], list[dict[str, Any]]]] = field(default_factory=dict, repr=False,
                                                                              compare=False)

    @property
    def gold_key(self) -> str:
        return "gold_" + self.name

    @property
    def file(self) -> Path:
        return self.dir / TASK_FILE

    def load_suite(self, override: str | Path | None = None) -> list[dict[str, Any]]:
        """The fitness examples, every one validated. `override` is a suite path given on the command line.
        Read once while the file is unchanged (callers get their own list)."""
        path = Path(override) if override is not None else self.suite_path
        if path.suffix not in (".json", ".jsonl"):
            raise fail(path, "$", "expected a fitness test suite file ending in .json or .jsonl")
        try:
            stamp = (path.stat().st_size, path.stat().st_mtime_ns)
        except OSError:
            stamp = None
        known = self._suites.get(path.resolve())
        if stamp is not None and known is not None and known[0] == stamp:
            return list(known[1])
        examples = self._read_suite(path)
        if stamp is not None:
            self._suites[path.resolve()] = (stamp, examples)
        return list(examples)

    def _read_suite(self, path: Path) -> list[dict[str, Any]]:
        rows = read_examples(path)
        example_schema = self._example_schema()
        for where, example in rows:
            check(example, example_schema, path, root=where)
            self._check_gold(example, path, where)
            for key in example_fields(example):
                if key in FITNESS_INPUTS or not key.isidentifier():
                    raise fail(path, json_path([key], where),
                               "expected a field name that is a Python identifier and not one of the fitness"
                               f" queries' own inputs ({', '.join(FITNESS_INPUTS)}): rename the field")
        return [example for _, example in rows]

    def _example_schema(self) -> dict[str, Any]:
        base = schema("example")
        gold = base["$defs"][f"gold_{self.answer_type}"]
        base["properties"][self.gold_key] = gold
        base["required"] = ["input", self.gold_key] + (["choices"] if self.answer_type == "choice" else [])
        return base

    def _check_gold(self, example: dict[str, Any], file: Path, where: str) -> None:
        gold = example[self.gold_key]
        at = json_path([self.gold_key], where)
        if self.answer_type == "choice" and gold not in example["choices"]:
            shown = ", ".join(repr(c) for c in example["choices"])
            raise fail(file, at, f"expected one of the example's choices {shown} (got {gold!r})")
        if self.answer_type == "number":
            try:
                ok = math.isfinite(float(gold))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise fail(file, at, f"expected a number or a string holding a number (got {gold!r})")



def load_prompt_task(task_dir: Path, data: Any, file: Path) -> Task:
    """Validate a prompt (or generation) task's task_description.json and its suite file."""
    if isinstance(data, dict) and not {"fitness_test_suite", "answer_type"} & set(data) and "fitness_scorer" in data:
        # LLaMA Day Care's task file: the schema would name one missing field; say what the whole file lacks
        raise fail(file, "$", "expected fitness_test_suite and answer_type (this looks like a LLaMA Day Care task,"
                   " whose examples came from one --fitness_test_suite file): convert the day care with"
                   " `promptbreeder convert-day-care SRC DEST --fitness_test_suite FILE`, or add both fields")
    check(data, schema("task_description"), file)
    decoders = {}
    for key in ("decoder_options", "fitness_decoder_options"):
        try:
            decoders[key] = DecoderOptions.parse(data[key])
        except UsageError as exc:
            raise fail(file, f"$.{key}", f"expected a valid LMQL decoder ({exc})") from None
    problem = spec_problem(data["fitness_scorer"])
    if problem is not None:
        raise fail(file, json_path(["fitness_scorer", *problem[0]]), problem[1])
    scorer = scorer_class(data["fitness_scorer"]["type"])
    if scorer.answer_types is not None and data["answer_type"] not in scorer.answer_types:
        raise fail(
            file,
            "$.fitness_scorer.type",
            f"expected a scorer for answer_type {data['answer_type']!r} "
            f"({scorer.type} scores answer_type {', '.join(scorer.answer_types)} only)",
        )
    if "search_space" in data and data.get("genome") != "generation":
        raise fail(file, "$.search_space", 'expected only with "genome": "generation" (the decoding parameters it'
                   " searches); a prompt task has no search space")
    suite = task_dir / data["fitness_test_suite"]
    if not suite.is_file():
        expected = f"expected an existing file relative to {task_dir} (not found: {suite})"
        raise fail(file, "$.fitness_test_suite", expected)
    return Task(
        name=task_dir.name,
        dir=task_dir,
        description=data["task_description"],
        scorer_spec=dict(data["fitness_scorer"]),
        decoder=decoders["decoder_options"],
        fitness_decoder=decoders["fitness_decoder_options"],
        fixed_system_prompt=data["fixed_system_prompt"],
        answer_type=data["answer_type"],
        answer_max_tokens=data.get("answer_max_tokens", DEFAULT_ANSWER_MAX_TOKENS),
        seed_prompts=list(data.get("seed_prompts") or []),
        genome=data.get("genome", "prompt"),
        suite_path=suite,
        search_space=data.get("search_space"),
    )
