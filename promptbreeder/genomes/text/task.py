"""Text and code task folders (`"genome": "text"` / `"code"` in task_description.json).

A text task scores a candidate with its `evaluator` file (`evaluate(text) -> (score, feedback)`) or
with the LLM rubric (`fitness_scorer`). A code task's evaluator is trusted task code that never runs
the candidate itself: it defines `make_args() -> JSON value` (the input handed to the candidate) and
`score(returned) -> (score, feedback)` (or `score(returned, source)`, to judge the program's text too, as
code golf does); the candidate's `entry` function runs only inside the sandbox
(`promptbreeder.sandbox.run_code`, limits from `limits`), and a crash, timeout, memory or network
failure scores 0 with the sandbox's feedback.
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.jsonio import check, fail, json_path, schema
from promptbreeder.errors import UsageError
from promptbreeder.scorers.registry import spec_problem

FAILED = 0.0  # the score of a candidate that could not be run or scored


@dataclass
class TextTask:
    name: str
    dir: Path
    genome: str  # "text" | "code"
    description: str
    question: str
    x0: str
    evaluator: Any = field(repr=False)  # the loaded evaluator module, or None (rubric)
    rubric_spec: dict[str, Any] | None = None
    entry: str = "main"
    limits: dict[str, Any] = field(default_factory=dict)
    decoder: DecoderOptions = field(default_factory=lambda: DecoderOptions.parse("sample(temperature=0.7)"))
    max_solution_tokens: int = 512
    history_window: int = 5
    stop_score: float | None = None  # the run ends once a candidate scores this much

    def evaluate_function(self, backend: Any = None, build_scorer: Callable | None = None, *,
                          allow_weak_sandbox: bool = False):
        """`evaluate(x) -> (score, feedback)` for this task (the rubric needs the run's backend; code runs in
        the sandbox, the weak one only with `allow_weak_sandbox`)."""
        if self.genome == "code":
            return lambda source: self._run_code(source, allow_weak_sandbox)
        if self.evaluator is not None:
            return lambda text: _checked(self.evaluator.evaluate(text))
        scorer = build_scorer(self, backend)

        def grade(text: str) -> tuple[float, str]:
            [value] = scorer.score_many([text], [{"input": self.question}])
            return value, f"the grader gave {value:.2f} of 1 for this rubric: {self.rubric_spec.get('rubric', '')[:200]}"

        return grade

    def _run_code(self, source: str, allow_weak_sandbox: bool = False) -> tuple[float, str]:
        from promptbreeder.sandbox import SandboxLimits, run_code

        limits = SandboxLimits(**{k: tuple(v) if k == "allow_hosts" else v for k, v in self.limits.items()})
        result = run_code(source, entry=self.entry, args=self.evaluator.make_args(), limits=limits,
                          allow_weak=allow_weak_sandbox)
        if not result.ok:
            return FAILED, f"{result.failure}: {result.feedback}"
        try:
            if _takes_source(self.evaluator.score):  # code golf scores the program's length too
                return _checked(self.evaluator.score(result.value, source))
            return _checked(self.evaluator.score(result.value))
        except Exception as exc:  # the candidate's output broke the scorer: its fault, scored as failure
            return FAILED, f"the returned value could not be scored: {type(exc).__name__}: {exc}"


def _takes_source(score: Callable) -> bool:
    """Whether a code evaluator's `score` takes the candidate's source beside the value it returned."""
    try:
        parameters = inspect.signature(score).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def _checked(outcome: Any) -> tuple[float, str]:
    score, feedback = outcome
    return float(score), str(feedback)


def load_text_task(task_dir: Path, data: dict[str, Any], file: Path) -> TextTask:
    check(data, schema("text_task"), file)
    kind = data["genome"]
    if ("x0" in data) == ("x0_file" in data):
        raise fail(file, "$", "expected exactly one of x0 and x0_file")
    x0 = data.get("x0")
    if x0 is None:
        x0 = _read(task_dir / data["x0_file"], file, "$.x0_file")
    evaluator = None
    if "evaluator" in data:
        evaluator = _load_module(task_dir / data["evaluator"], file)
        wanted = ("make_args", "score") if kind == "code" else ("evaluate",)
        missing = [name for name in wanted if not callable(getattr(evaluator, name, None))]
        if missing:
            raise fail(file, "$.evaluator", f"expected {data['evaluator']} to define {', '.join(missing)}")
    if kind == "code" and (evaluator is None or "entry" not in data):
        raise fail(file, "$", "expected a code task to name its evaluator and the candidate's entry function")
    if kind == "text" and (evaluator is None) == ("fitness_scorer" not in data):
        raise fail(file, "$", "expected a text task to have exactly one of evaluator and fitness_scorer")
    if kind == "code" and "fitness_scorer" in data:
        raise fail(file, "$.fitness_scorer", "expected no fitness_scorer in a code task (its evaluator scores)")
    if "fitness_scorer" in data:
        problem = spec_problem(data["fitness_scorer"])
        if problem is not None:
            raise fail(file, json_path(["fitness_scorer", *problem[0]]), problem[1])
    from promptbreeder.sandbox import SandboxLimits

    limits = data.get("limits", {})
    try:
        SandboxLimits(allow_hosts=tuple(limits.get("allow_hosts", ())))
    except ValueError as exc:
        raise fail(file, "$.limits.allow_hosts", f"expected loopback hosts only ({exc})") from None
    try:
        SandboxLimits(**{k: tuple(v) if k == "allow_hosts" else v for k, v in limits.items()})
    except ValueError as exc:
        raise fail(file, "$.limits", f"expected usable sandbox limits ({exc})") from None
    try:
        decoder = DecoderOptions.parse(data.get("decoder_options", "sample(temperature=0.7)"))
    except UsageError as exc:
        raise fail(file, "$.decoder_options", f"expected a valid LMQL decoder ({exc})") from None
    return TextTask(name=task_dir.name, dir=task_dir, genome=kind, description=data["task_description"],
                    question=data["question"], x0=x0, evaluator=evaluator, rubric_spec=data.get("fitness_scorer"),
                    entry=data.get("entry", "main"), limits=dict(data.get("limits", {})), decoder=decoder,
                    max_solution_tokens=data.get("max_solution_tokens", 512),
                    history_window=data.get("history_window", 5), stop_score=data.get("stop_score"))


def _read(path: Path, file: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise fail(file, where, f"expected a readable UTF-8 file in the task folder (not found or unreadable: {path})") from None


def _load_module(path: Path, file: Path):
    if not path.is_file():
        raise fail(file, "$.evaluator", f"expected an existing Python file in the task folder (not found: {path})")
    spec = importlib.util.spec_from_file_location(f"promptbreeder_task_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the task author's file: report it, in one line, as a day care problem
        raise fail(file, "$.evaluator", f"expected {path.name} to import cleanly ({type(exc).__name__}: {exc})") from None
    return module
