"""The scorers that need no model: exact_match, multiple_choice, numeric, regex, python.

(llm_rubric lives in rubric.py; importing this module registers every built-in scorer.)
"""

from __future__ import annotations

import importlib
import math
import re
import string
from typing import Any, Callable

from promptbreeder.errors import UsageError
from promptbreeder.scorers.base import Scorer, clip01, quoted
from promptbreeder.scorers.registry import register
from promptbreeder.scorers import rubric  # noqa: F401  (registers llm_rubric)

_SPACES = re.compile(r"\s+")
# edges a model adds around an answer that do not change it ("Paris." / '"Paris"' / "**Paris**")
_EDGE_CHARS = " \t\n.,;:!?\"'`*_"


def normalise(text: Any) -> str:
    """Case-folded, whitespace-collapsed text with surrounding quotes and punctuation removed."""
    return _SPACES.sub(" ", str(text)).strip(_EDGE_CHARS).casefold()


@register
class ExactMatch(Scorer):
    """1.0 when the prediction equals the gold string (by default ignoring case and surrounding spaces)."""

    type = "exact_match"
    args_schema = {
        "type": "object",
        "properties": {
            "case_sensitive": {"type": "boolean", "description": "compare case too (default false)"},
            "strip": {"type": "boolean", "description": "ignore surrounding whitespace (default true)"},
        },
    }

    def __init__(self, task_name: str, backend: Any = None, case_sensitive: bool = False, strip: bool = True):
        super().__init__(task_name, backend, case_sensitive=case_sensitive, strip=strip)
        self.case_sensitive, self.strip = case_sensitive, strip

    def _norm(self, text: str) -> str:
        text = text.strip() if self.strip else text
        return text if self.case_sensitive else text.casefold()

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        gold = self.gold(example)
        if gold is None or prediction is None:
            return 0.0
        return 1.0 if self._norm(str(prediction)) == self._norm(str(gold)) else 0.0


@register
class MultipleChoice(Scorer):
    """1.0 when the prediction is the gold choice (ignoring case, spacing, surrounding punctuation).

    With `accept_letters`, "(b)", "b)" or "B" also count when the example's second choice is the gold one.
    """

    type = "multiple_choice"
    answer_types = ("choice",)
    args_schema = {
        "type": "object",
        "properties": {
            "accept_letters": {"type": "boolean", "description": "accept '(a)'/'a' for the first choice etc."},
        },
    }
    _LETTER = re.compile(r"^\(?([a-z])\)?$")

    def __init__(self, task_name: str, backend: Any = None, accept_letters: bool = False):
        super().__init__(task_name, backend, accept_letters=accept_letters)
        self.accept_letters = accept_letters

    def feedback(self, prediction: str, example: dict[str, Any], score: float) -> str:
        if score >= 1.0:
            return "right"
        choices = [str(c) for c in example.get("choices") or []]
        guess = normalise(prediction or "")
        picked = next((c for c in choices if normalise(c) == guess), None)
        said = f"chose {picked!r}, another choice" if picked else f"answered {quoted(prediction)}, not one of the choices"
        return f"wrong: expected the choice {str(self.gold(example))!r}; the model {said}"

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        gold = self.gold(example)
        if gold is None or prediction is None:
            return 0.0
        guess = normalise(prediction)
        if guess == normalise(gold):
            return 1.0
        if self.accept_letters:
            # normalise() has already removed a trailing "." or ":" after the letter
            match = self._LETTER.match(_SPACES.sub("", str(prediction)).strip(_EDGE_CHARS).casefold())
            choices = example.get("choices") or []
            if match:
                index = string.ascii_lowercase.index(match.group(1))
                # a choice literally named "a" wins over the letter reading (handled by the test above)
                return 1.0 if index < len(choices) and normalise(choices[index]) == normalise(gold) else 0.0
        return 0.0


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def first_number(text: Any) -> float | None:
    """The first number written in `text` ("1,024" and "-3.5e2" included), or None."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    match = _NUMBER.search(str(text))
    if not match:
        return None
    value = float(match.group(0).replace(",", ""))
    return value if math.isfinite(value) else None


@register
class Numeric(Scorer):
    """1.0 when the first number in the prediction is within `tolerance` (absolute) of the gold number."""

    type = "numeric"
    answer_types = ("number",)
    args_schema = {
        "type": "object",
        "properties": {
            "tolerance": {"type": "number", "minimum": 0, "description": "allowed absolute difference"},
        },
    }

    def __init__(self, task_name: str, backend: Any = None, tolerance: float = 0):
        super().__init__(task_name, backend, tolerance=tolerance)
        self.tolerance = float(tolerance)

    def feedback(self, prediction: str, example: dict[str, Any], score: float) -> str:
        if score >= 1.0:
            return "right"
        gold, guess = first_number(self.gold(example)), first_number(prediction or "")
        read = "no number" if guess is None else f"the number {guess:g}"
        within = f" (within {self.tolerance:g})" if self.tolerance else ""
        return f"wrong: expected the number {self.gold(example)}{within}; the answer gave {read}" + (
            "" if gold is not None else " (the example has no numeric gold answer)")

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        gold, guess = first_number(self.gold(example)), first_number(prediction or "")
        if gold is None or guess is None:
            return 0.0
        # a tiny epsilon so that 0.1 + 0.2 vs 0.3 with tolerance 0 is not a float-rounding miss
        return 1.0 if abs(guess - gold) <= self.tolerance + 1e-9 * max(1.0, abs(gold)) else 0.0


def final_number(text: Any) -> str:
    """The last number written in `text`, as written ("1,024" without its commas), or "" when there is none.

    A number task's answer is the final number of the model's reply: small models restate the question
    before answering ("2 + 3 = 5"), and "The answer is 8." ends with it (as lm-eval's flexible extraction).
    """
    matches = _NUMBER.findall(str(text))
    return matches[-1].replace(",", "") if matches else ""


@register
class Regex(Scorer):
    """1.0 when `re.search(pattern, prediction)` matches; `{gold}` in the pattern is the escaped gold label."""

    type = "regex"
    args_schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1, "description": "a Python regex, may contain {gold}"},
            "ignore_case": {"type": "boolean", "description": "match case-insensitively (default false)"},
        },
        "required": ["pattern"],
    }

    def __init__(self, task_name: str, backend: Any = None, pattern: str = "", ignore_case: bool = False):
        super().__init__(task_name, backend, pattern=pattern, ignore_case=ignore_case)
        self.pattern = pattern
        self.flags = re.IGNORECASE if ignore_case else 0

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> tuple[str, str] | None:
        try:
            re.compile(args["pattern"].replace("{gold}", "gold"))
        except re.error as exc:
            return "pattern", f"expected a valid Python regular expression ({exc})"
        return None

    def feedback(self, prediction: str, example: dict[str, Any], score: float) -> str:
        if score >= 1.0:
            return "right"
        pattern = self.pattern.replace("{gold}", re.escape(str(self.gold(example))))
        return f"wrong: expected an answer matching the pattern {pattern!r}; the answer was {quoted(prediction)}"

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        gold = self.gold(example)
        if prediction is None or ("{gold}" in self.pattern and gold is None):
            return 0.0
        # str.replace, not str.format: regex quantifiers such as \d{2} also use braces
        pattern = self.pattern.replace("{gold}", re.escape(str(gold)))
        try:
            return 1.0 if re.search(pattern, str(prediction), self.flags) else 0.0
        except re.error:
            return 0.0


def import_function(ref: str) -> Callable[..., Any]:
    """The callable named by "package.module:function" (dots after ':' walk attributes)."""
    module_name, _, attr = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return target


@register
class Python(Scorer):
    """Calls a user function `f(prediction, example) -> float`, or `-> (float, feedback)` (as
    llm_optimize's `f(x)` returns a score and a text); the score is clipped to [0, 1].

    A function that raises or returns a non-number scores 0.0 for that example, with why as its feedback.
    """

    type = "python"
    args_schema = {
        "type": "object",
        "properties": {
            "function": {
                "type": "string",
                "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
                "description": "an importable 'module:function' reference",
            },
        },
        "required": ["function"],
    }

    def __init__(self, task_name: str, backend: Any = None, function: str = ""):
        super().__init__(task_name, backend, function=function)
        problem = self.check_args({"function": function})
        if problem is not None:
            raise UsageError(f"fitness scorer python argument function: {problem[1]}")
        self.function = import_function(function)

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> tuple[str, str] | None:
        try:
            import_function(args["function"])
        except Exception as exc:  # any import-time failure of user code is the user's to fix
            reason = f"importing {args['function']!r} failed: {type(exc).__name__}: {exc}"
            return "function", f"expected an importable 'module:function' ({reason})"
        return None

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        return self._call(prediction, example)[0]

    def judge_many(self, predictions: list[str], examples: list[dict[str, Any]],
                   explain: bool = False) -> list[tuple[float, str]]:
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        judged = []
        for prediction, example in zip(predictions, examples):
            score, said = self._call(prediction, example)
            judged.append((score, said if said is not None else self.feedback(prediction, example, score)))
        return judged

    def _call(self, prediction: str, example: dict[str, Any]) -> tuple[float, str | None]:
        """(score, the function's own feedback or None); a failing function scores 0.0 and says why."""
        try:
            value = self.function(prediction, example)
        except Exception as exc:  # user code failing on one example must not sink a generation
            return 0.0, f"the scoring function failed: {type(exc).__name__}: {exc}"[:300]
        if isinstance(value, tuple) and len(value) == 2:
            return clip01(value[0]), str(value[1])[:1000]
        return clip01(value), None

