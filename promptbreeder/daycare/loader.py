"""Day care folders: mutation prompts, thinking styles, query overrides and one folder per task.

```
<day_care>/mutation_prompts.json        <day_care>/<task>/task_description.json  (+ what its kind needs)
<day_care>/thinking_styles.json         <day_care>/<task>/queries/NAME.lmql
<day_care>/queries/NAME.lmql
```
A task folder names its genome kind (`"genome"`, default "prompt"); the kind's registry entry loads and
validates the rest (`genomes/registry.py`), so this module knows no kind by name. Any problem is a
one-line DayCareError naming file, JSON path and expectation. Tasks load lazily, so one broken task
does not stop a run of another; `DayCare.validate()` checks everything at once. A query is looked up
in the task's folder, then the day care's, then the package's (`package_queries`), and read once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import Backend, query_holes
from promptbreeder.backends.chat import ChatFormat, check_not_mixed
from promptbreeder.errors import UsageError
from promptbreeder.genomes.kind import TASK_FILE, TaskFolder
from promptbreeder.genomes.registry import KINDS, genome_kind
from promptbreeder.jsonio import check, fail, json_path, read_json, schema
from promptbreeder.package_queries import QUERY_NAME, package_query_names, package_query_path, package_query_text
from promptbreeder.scorers.base import Scorer
from promptbreeder.scorers.registry import build_scorer

DEFAULT_KIND = "prompt"
_DECODER_LINE = re.compile(r"^\s*(argmax|sample|beam)\b")


def _names_in(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.lmql") if p.is_file()} if folder.is_dir() else set()


@dataclass(frozen=True)
class Prompt:
    """A mutation prompt or thinking style."""

    category: str
    text: str


@dataclass
class DayCare:
    """A loaded day care folder. `task(name)` loads and validates one task (cached); query texts are
    read once and kept."""

    dir: Path
    mutation_prompts: list[Prompt]
    thinking_styles: list[Prompt]
    task_names: list[str]
    _tasks: dict[str, TaskFolder] = field(default_factory=dict, repr=False)
    _queries: dict[tuple[str, str | None], str] = field(default_factory=dict, repr=False)

    def task(self, name: str) -> TaskFolder:
        if name not in self.task_names:
            known = ", ".join(self.task_names) or f"(none: add a folder holding {TASK_FILE})"
            raise fail(self.dir, "$", f"expected one of the day care's tasks: {known} (got {name!r})")
        if name not in self._tasks:
            self._tasks[name] = load_task_folder(self.dir / name)
        return self._tasks[name]

    def _override_dirs(self, task: str | None) -> list[Path]:
        dirs = [self.dir / "queries"]
        if task is not None:
            self.task(task)  # an unknown task is an error here too, not a silent fallback
            dirs.insert(0, self.dir / task / "queries")
        return dirs

    def query_names(self, task: str | None = None) -> list[str]:
        """Every query name a run can use: package queries plus this day care's (and task's) additions."""
        return sorted(set(package_query_names()).union(*(_names_in(d) for d in self._override_dirs(task))))

    def query_text(self, name: str, task: str | None = None) -> str:
        """Text of query NAME: the task's override, else the day care's, else the package's."""
        name = name[: -len(".lmql")] if name.endswith(".lmql") else name
        if (name, task) not in self._queries:
            self._queries[(name, task)] = self._find_query(name, task)
        return self._queries[(name, task)]

    def query_file(self, name: str, task: str | None = None) -> Path | None:
        """The override file that query NAME is read from, or None for the package's own."""
        if QUERY_NAME.match(name):
            for folder in self._override_dirs(task):
                if (folder / f"{name}.lmql").is_file():
                    return folder / f"{name}.lmql"
        return None

    def check_overrides(self, task: str, check: Callable[[str, str, str], None]) -> None:
        """`check(name, text, path)` on every query override the task can use; its UsageError becomes a
        DayCareError naming the file (so what a model cannot run stops a run before it starts)."""
        for name in self.query_names(task):
            path = self.query_file(name, task)
            if path is not None:
                try:
                    check(name, self.query_text(name, task), str(path))
                except UsageError as exc:
                    raise fail(path, "$", str(exc).removeprefix(f"{path}: ")) from None

    def check_chat_format(self, chat_format: ChatFormat | Callable[[str], ChatFormat], task: str) -> None:
        """Raise DayCareError, naming the file, for a query override its model's chat format cannot render
        (an override that spells out ChatML markers, run on a model with another template).
        `chat_format` is one format, or the format of the model that runs each query name."""
        self.check_overrides(task, lambda name, text, path: (
            chat_format(name) if callable(chat_format) else chat_format).check(text, path))

    def _find_query(self, name: str, task: str | None) -> str:
        if QUERY_NAME.match(name):
            path = self.query_file(name, task)
            if path is not None:
                return _read_query(path, name)
            if package_query_path(name) is not None:
                return package_query_text(name)
        raise UsageError(f"unknown query {name!r}; available: {', '.join(self.query_names(task)) or '(none)'}")

    def build_scorer(self, task: TaskFolder | str, backend: Backend | None = None) -> Scorer:
        """The task's fitness scorer (a task or its name); model-based scorers use this day care's query overrides."""
        task = self.task(task) if isinstance(task, str) else task
        return self.build_scorer_spec(task.scorer_spec, task.name, backend)

    def build_scorer_spec(self, spec: dict[str, Any], task_name: str, backend: Backend | None = None) -> Scorer:
        """A scorer from a spec (e.g. a text task's rubric) with this day care's query overrides."""
        return build_scorer(spec, task_name, backend, query_lookup=lambda q: self.query_text(q, task_name))

    def validate(self) -> dict[str, int]:
        """Load every task and its query overrides; returns each task's size as its kind counts it
        (examples of a prompt task, parameters of an HPO task, 1 candidate of a text or code task)."""
        counts = {}
        for name in self.task_names:
            task = self.task(name)
            counts[name] = genome_kind(task.genome).size(task)
            for query in self.query_names(name):
                self.query_text(query, name)
        return counts


def _read_query(path: Path, name: str) -> str:
    """An override's text, checked: readable, not empty, no decoder clause, every hole of the package query."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(path, "$", f"expected a readable UTF-8 LMQL query ({exc})") from None
    if not text.strip():
        raise fail(path, "$", "expected an LMQL query (the file is empty)")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            if _DECODER_LINE.match(line):
                raise fail(path, f"line {number}", "expected a query without a decoder clause "
                           "(decoders come from task_description.json)")
            break
    if package_query_path(name) is not None:
        # callers read the package query's variables, so an override must still produce all of them
        missing = [h for h in query_holes(package_query_text(name)) if h not in query_holes(text)]
        if missing:
            holes = ", ".join(f"[{h}]" for h in missing)
            raise fail(path, "$", f"expected the holes of the package query {name} (missing {holes})")
    try:  # whether the roles fit the model is checked when the model is known (check_chat_format)
        check_not_mixed(text, str(path))
    except UsageError as exc:
        raise fail(path, "$", str(exc).removeprefix(f"{path}: ")) from None
    return text


LLAMA_DAY_CARE_QUERIES = "breeder.lmql"  # the original tool's one query file (HJSON)
LLAMA_DAY_CARE_CATEGORY = "paper"  # LLaMA Day Care's lists (the paper's prompts) carry no categories


def load_prompts(path: Path) -> list[Prompt]:
    data = read_json(path, "a JSON list of {category, text} objects, or an object of id -> prompt text")
    # LLaMA Day Care's form: an object of id -> prompt text (one of our {category, text} objects without its
    # list around it is a mistake, which the schema then names)
    if isinstance(data, dict) and not {"category", "text"} & set(data):
        for key, text in data.items():
            if not isinstance(text, str) or not text.strip():
                raise fail(path, json_path([key]), "expected a non-empty prompt text (LLaMA Day Care's form: an"
                           " object of id -> prompt), or use a JSON list of {category, text} objects")
        if not data:
            raise fail(path, "$", "expected at least one prompt")
        return [Prompt(LLAMA_DAY_CARE_CATEGORY, text) for text in data.values()]
    check(data, schema("prompt_list"), path)
    return [Prompt(item["category"], item["text"]) for item in data]


def load_task_folder(task_dir: str | Path) -> TaskFolder:
    """Load and validate one task folder on its own (its name is the folder name). Raises DayCareError."""
    task_dir = Path(task_dir)
    file = task_dir / TASK_FILE
    data = read_json(file, f"a {TASK_FILE}")
    name = data.get("genome", DEFAULT_KIND) if isinstance(data, dict) else DEFAULT_KIND
    if not isinstance(name, str) or name not in KINDS:
        raise fail(file, "$.genome", f"expected one of {', '.join(KINDS)} (got {name!r})")
    return genome_kind(name).load_task(task_dir, data, file)


def load_day_care(path: str | Path) -> DayCare:
    """Read a day care folder: prompts and thinking styles now, tasks when asked for. Raises DayCareError."""
    root = Path(path)
    if not root.exists():
        raise fail(root, "$", "expected an existing day care folder (not found)")
    if not root.is_dir():
        raise fail(root, "$", "expected a day care folder (it is a file)")
    if (root / LLAMA_DAY_CARE_QUERIES).exists():  # silently running the package's queries instead would mislead
        raise fail(root / LLAMA_DAY_CARE_QUERIES, "$",
                   "expected no breeder.lmql: promptbreeder does not read LLaMA Day Care's query file; its queries are"
                   " separate .lmql files, and a day care overrides one by name in queries/NAME.lmql (names:"
                   f" {', '.join(package_query_names())}); move the queries you changed there (LMQL 0.7 syntax, the"
                   " holes of the package query) and rename or delete breeder.lmql; or convert the whole folder"
                   " with `promptbreeder convert-day-care SRC DEST --fitness_test_suite FILE`")
    tasks = sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and (p / TASK_FILE).is_file()
    )
    return DayCare(
        dir=root,
        mutation_prompts=load_prompts(root / "mutation_prompts.json"),
        thinking_styles=load_prompts(root / "thinking_styles.json"),
        task_names=tasks,
    )
