"""Day care folders: mutation prompts, thinking styles, tasks and their fitness suites, query overrides.

```
<day_care>/mutation_prompts.json        <day_care>/<task>/task_description.json
<day_care>/thinking_styles.json         <day_care>/<task>/<suite>.json | .jsonl
<day_care>/queries/NAME.lmql            <day_care>/<task>/queries/NAME.lmql
```
Structure is checked with the JSON Schemas in `schemas/`, meaning (decoders parse, the scorer exists and
takes those arguments, gold labels fit the answer type, files exist) by the code below. Any problem is a
one-line DayCareError naming file, JSON path and expectation. Tasks load lazily, so one broken task does
not stop a run of another; `DayCare.validate()` checks everything at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptbreeder.backends.base import DecoderOptions, query_holes
from promptbreeder.daycare.jsonio import check, fail, json_path, read_examples, read_json, schema
from promptbreeder.errors import UsageError
from promptbreeder.scorers.base import Scorer
from promptbreeder.scorers.registry import build_scorer, scorer_class, spec_problem

if TYPE_CHECKING:
    from promptbreeder.daycare.config_task import ConfigTask

PACKAGE_QUERY_DIR = Path(__file__).resolve().parents[1] / "queries"
TASK_FILE = "task_description.json"
DEFAULT_ANSWER_MAX_TOKENS = 48
_QUERY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_DECODER_LINE = re.compile(r"^\s*(argmax|sample|beam)\b")


def _names_in(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.lmql") if p.is_file()} if folder.is_dir() else set()


def package_query_names() -> list[str]:
    return sorted(_names_in(PACKAGE_QUERY_DIR))


def package_query_text(name: str) -> str:
    """The text of the package's query `promptbreeder/queries/NAME.lmql`. Raises UsageError."""
    path = PACKAGE_QUERY_DIR / f"{name}.lmql"
    if not _QUERY_NAME.match(name) or not path.is_file():
        raise UsageError(f"unknown query {name!r}; available: {', '.join(package_query_names()) or '(none)'}")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Prompt:
    """A mutation prompt or thinking style."""

    category: str
    text: str


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

    @property
    def gold_key(self) -> str:
        return "gold_" + self.name

    @property
    def file(self) -> Path:
        return self.dir / TASK_FILE

    def load_suite(self, override: str | Path | None = None) -> list[dict[str, Any]]:
        """The fitness examples, every one validated. `override` is a suite path given on the command line."""
        path = Path(override) if override is not None else self.suite_path
        if path.suffix not in (".json", ".jsonl"):
            raise fail(path, "$", "expected a fitness test suite file ending in .json or .jsonl")
        rows = read_examples(path)
        example_schema = self._example_schema()
        for where, example in rows:
            check(example, example_schema, path, root=where)
            self._check_gold(example, path, where)
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


@dataclass
class DayCare:
    """A loaded day care folder. `task(name)` loads and validates one task (cached)."""

    dir: Path
    mutation_prompts: list[Prompt]
    thinking_styles: list[Prompt]
    task_names: list[str]
    _tasks: dict[str, Task] = field(default_factory=dict, repr=False)

    def task(self, name: str) -> Task:
        if name not in self.task_names:
            known = ", ".join(self.task_names) or f"(none: add a folder holding {TASK_FILE})"
            raise fail(self.dir, "$", f"expected one of the day care's tasks: {known} (got {name!r})")
        if name not in self._tasks:
            self._tasks[name] = load_task_folder(self.dir / name)
        return self._tasks[name]

    def _query_dirs(self, task: str | None) -> list[Path]:
        dirs = [self.dir / "queries", PACKAGE_QUERY_DIR]
        if task is not None:
            self.task(task)  # an unknown task is an error here too, not a silent fallback
            dirs.insert(0, self.dir / task / "queries")
        return dirs

    def query_names(self, task: str | None = None) -> list[str]:
        """Every query name a run can use: package queries plus this day care's (and task's) additions."""
        return sorted(set().union(*(_names_in(d) for d in self._query_dirs(task))))

    def query_text(self, name: str, task: str | None = None) -> str:
        """Text of query NAME: the task's override, else the day care's, else the package's."""
        name = name[: -len(".lmql")] if name.endswith(".lmql") else name
        if _QUERY_NAME.match(name):
            for folder in self._query_dirs(task):
                path = folder / f"{name}.lmql"
                if path.is_file():
                    return _read_query(path, name, is_override=folder != PACKAGE_QUERY_DIR)
        raise UsageError(f"unknown query {name!r}; available: {', '.join(self.query_names(task)) or '(none)'}")

    def build_scorer(self, task: str | Task, backend: Any = None) -> Scorer:
        """The task's fitness scorer; model-based scorers use this day care's query overrides."""
        task = task if isinstance(task, Task) else self.task(task)
        return build_scorer(task.scorer_spec, task.name, backend, query_lookup=lambda q: self.query_text(q, task.name))

    def build_scorer_spec(self, spec: dict[str, Any], task_name: str, backend: Any = None) -> Scorer:
        """A scorer from a spec (e.g. a text task's rubric) with this day care's query overrides."""
        return build_scorer(spec, task_name, backend, query_lookup=lambda q: self.query_text(q, task_name))

    def validate(self) -> dict[str, int]:
        """Load every task, its suite and its query overrides; returns examples per prompt task,
        parameters per HPO task and 1 (the starting candidate) per text or code task."""
        counts = {}
        for name in self.task_names:
            task = self.task(name)
            counts[name] = (len(task.space) if task.genome == "config" else 1 if task.genome in ("text", "code")
                            else len(task.load_suite()))
            for query in self.query_names(name):
                self.query_text(query, name)
        return counts


def _read_query(path: Path, name: str, is_override: bool) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(path, "$", f"expected a readable UTF-8 LMQL query ({exc})") from None
    if not is_override:
        return text
    if not text.strip():
        raise fail(path, "$", "expected an LMQL query (the file is empty)")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            if _DECODER_LINE.match(line):
                raise fail(path, f"line {number}", "expected a query without a decoder clause "
                           "(decoders come from task_description.json)")
            break
    package_path = PACKAGE_QUERY_DIR / f"{name}.lmql"
    if package_path.is_file():
        # callers read the package query's variables, so an override must still produce all of them
        missing = [h for h in query_holes(package_path.read_text(encoding="utf-8")) if h not in query_holes(text)]
        if missing:
            holes = ", ".join(f"[{h}]" for h in missing)
            raise fail(path, "$", f"expected the holes of the package query {name} (missing {holes})")
    return text


def _load_prompts(path: Path) -> list[Prompt]:
    data = read_json(path, "a JSON list of {category, text} objects")
    check(data, schema("prompt_list"), path)
    return [Prompt(item["category"], item["text"]) for item in data]


def load_task_folder(task_dir: str | Path) -> "Task | ConfigTask":
    """Load and validate one task folder on its own (its name is the folder name). Raises DayCareError."""
    task_dir = Path(task_dir)
    file = task_dir / TASK_FILE
    data = read_json(file, f"a {TASK_FILE}")
    if isinstance(data, dict) and data.get("genome") == "config":
        from promptbreeder.daycare.config_task import load_config_task  # HPO needs sklearn: only load it then

        return load_config_task(task_dir, data, file)
    if isinstance(data, dict) and data.get("genome") in ("text", "code"):
        from promptbreeder.daycare.text_task import load_text_task

        return load_text_task(task_dir, data, file)
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
    )


def load_day_care(path: str | Path) -> DayCare:
    """Read a day care folder: prompts and thinking styles now, tasks when asked for. Raises DayCareError."""
    root = Path(path)
    if not root.exists():
        raise fail(root, "$", "expected an existing day care folder (not found)")
    if not root.is_dir():
        raise fail(root, "$", "expected a day care folder (it is a file)")
    tasks = sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and (p / TASK_FILE).is_file()
    )
    return DayCare(
        dir=root,
        mutation_prompts=_load_prompts(root / "mutation_prompts.json"),
        thinking_styles=_load_prompts(root / "thinking_styles.json"),
        task_names=tasks,
    )
