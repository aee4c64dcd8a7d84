"""Constraints a text-completion server cannot apply, checked on the client instead.

A server that takes text and returns text (no token masks, no log-probabilities: `transformers serve`,
many hosted endpoints) can still end a variable where LMQL wants: at a stop phrase (`STOPS_AT`,
`STOPS_BEFORE`) and at a token limit (`len(TOKENS(X)) < n`), which LMQL enforces itself between chunks.
What needs a mask while decoding (`X in choices`, `INT(X)`, `REGEX(X, ...)`) is taken out of the query
(`split_constraints`) and checked on the reply (`Validator.repair`): the reply is cut to its longest start
that satisfies the constraint, which is what a masked decoder would have been forced to end with (a
reply "B, because ..." answers the choice "B"; "7 out of 10" the integer 7); a choice also counts when the
reply names exactly one of the options ("The answer is (B)."). A reply that satisfies nothing is asked
again (sampling), and the query fails after its last try.

Variables that lose a constraint get a token bound where they had none, so an unmasked reply stays short.
Anything else in a where clause is not supported on such a server, and says so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from promptbreeder.errors import UsageError

_WHERE = re.compile(r'^(?P<head>\s*"(?:[^"\\]|\\.)*")\s+where\s+(?P<expr>.+?)\s*$')
_KEEP = (re.compile(r"^STOPS_(?:AT|BEFORE)\(\s*(\w+)\s*,"), re.compile(r"^len\(\s*TOKENS\(\s*(\w+)\s*\)\s*\)\s*<"))
_IN = re.compile(r"^(\w+)\s+in\s+(.+)$")
_INT = re.compile(r"^INT\(\s*(\w+)\s*\)$")
_REGEX = re.compile(r"^REGEX\(\s*(\w+)\s*,\s*(r?(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'))\s*\)$")
_BOUND = {"in": 24, "int": 8, "regex": 32}  # tokens an unmasked reply may take before it is cut


@dataclass(frozen=True)
class Validator:
    """What a variable must be: one of a list (`in`, the list an input's name or a literal), an integer,
    or a full match of a regular expression."""

    variable: str
    kind: str  # "in" | "int" | "regex"
    argument: str = ""  # the list's expression (in), the pattern (regex)
    # the variable's name in the rewritten query: one per constrained hole, so a variable that another
    # branch of the query fills without this constraint is not checked against it
    hole: str = ""

    def repair(self, value: str, inputs: dict[str, Any]) -> str | None:
        """The longest start of `value` that satisfies this constraint, or None."""
        if self.kind == "int":
            match = re.match(r"\s*-?\d+", value)
            return match.group(0) if match else None
        if self.kind == "regex":
            pattern = re.compile(ast.literal_eval(self.argument), re.S)
            return next((value[:end] for end in range(len(value), 0, -1) if pattern.fullmatch(value[:end])), None)
        options = [str(o) for o in self.options(inputs)]
        for text in (value, value.lstrip()):
            starts = [o for o in options if o and text.startswith(o)]
            if starts:
                return max(starts, key=len)
        folded = value.strip().casefold()
        starts = [o for o in options if o.strip() and folded.startswith(o.strip().casefold())]
        if starts:
            return max(starts, key=len)
        # an answer in a sentence ("The answer is (B)."): taken when it names exactly one option
        named = [o for o in options if o.strip() and re.search(
            rf"(?<!\w){re.escape(o.strip().casefold())}(?!\w)", folded)]
        return named[0] if len(named) == 1 else None

    def options(self, inputs: dict[str, Any]) -> list:
        if self.argument in inputs:
            return list(inputs[self.argument])
        try:
            return list(ast.literal_eval(self.argument))
        except (ValueError, SyntaxError, TypeError):
            raise UsageError(f"`{self.variable} in {self.argument}`: the list must be a query input or a literal"
                             " list on a text-completion server") from None


def split_constraints(query: str, source: str = "query") -> tuple[str, tuple[Validator, ...]]:
    """`query` without the constraints a text server cannot apply (bounded instead), and their validators.
    Each constrained hole is renamed to its validator's `hole`. Raises UsageError for a constraint neither
    side can check."""
    lines, validators = [], []
    for line in query.splitlines(keepends=True):
        match = _WHERE.match(line.rstrip("\n"))
        if not match or line.lstrip().startswith("#"):
            lines.append(line)
            continue
        head, kept, checks = match.group("head"), [], []
        for atom in _conjuncts(match.group("expr")):
            if any(pattern.match(atom) for pattern in _KEEP):
                kept.append(atom)
                continue
            validator = _validator(atom, f"PBCHECK{len(validators) + len(checks)}")
            if validator is None:
                raise UsageError(f"{source}: the constraint `{atom}` cannot be checked on a text-completion server"
                                 " (supported: STOPS_AT, STOPS_BEFORE, len(TOKENS(X)) < n, X in [...], INT, REGEX)")
            checks.append(validator)
        for check in checks:
            rename = re.compile(rf"\b{check.variable}\b")
            if f"[{check.variable}]" not in head:
                raise UsageError(f"{source}: the constraint on {check.variable} must stand after its hole")
            head = head.replace(f"[{check.variable}]", f"[{check.hole}]")
            kept = [rename.sub(check.hole, atom) for atom in kept]
            if not any(_KEEP[1].match(atom) and _KEEP[1].match(atom).group(1) == check.hole for atom in kept):
                kept.append(f"len(TOKENS({check.hole})) < {_BOUND[check.kind]}")
        validators += checks
        ending = "\n" if line.endswith("\n") else ""
        lines.append(f"{head} where {' and '.join(kept)}{ending}" if kept else head + ending)
    return "".join(lines), tuple(validators)


def _validator(atom: str, prefix: str) -> Validator | None:
    if match := _INT.match(atom):
        return Validator(match.group(1), "int", "", f"{prefix}_{match.group(1)}")
    if match := _REGEX.match(atom):
        return Validator(match.group(1), "regex", match.group(2), f"{prefix}_{match.group(1)}")
    if match := _IN.match(atom):
        return Validator(match.group(1), "in", match.group(2).strip(), f"{prefix}_{match.group(1)}")
    return None


def _conjuncts(expr: str) -> list[str]:
    """The parts of `a and b and c`, outside brackets and strings."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and expr.startswith(" and ", i):
            parts.append(expr[start:i].strip())
            start = i + len(" and ")
            i = start
            continue
        i += 1
    parts.append(expr[start:].strip())
    return [p for p in parts if p]
