"""Choosing an imported task's answer type and fitness scorer from its records, with reasons in words.

Rules, first match wins (`--answer_type` skips to that type's scorer):
1. every example has choices, unless the source says its targets are what it scores -> choice, multiple_choice
2. every gold answer is a number                                      -> number, numeric
3. every gold answer is short text (at most SHORT_TEXT_MAX_WORDS words) -> text, exact_match
4. free text                                  -> text, llm_rubric (a generic rubric against the reference)
The rubric is deliberately generic: it names no task, so it is right for any data set, and the README
and the explanation tell the user to make it specific.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptbreeder.errors import UsageError
from promptbreeder.importers.base import ANSWER_TYPES, Record, Source, is_number

SHORT_TEXT_MAX_WORDS = 5
GENERIC_RUBRIC = (
    "Compare the answer with the reference answer. Give the top grade when the answer is correct and "
    "complete: it agrees with the reference on everything that matters and answers what was asked, in any "
    "wording. Give a middle grade when it is partly correct or leaves out something important. Give 0 when "
    "it is wrong, off-topic, empty, or contradicts the reference."
)
RUBRIC_SCALE = 10
SCORER_MEANING = {
    "multiple_choice": "1 when the answer is the gold choice (case and surrounding punctuation ignored), else 0",
    "numeric": "1 when the first number in the answer equals the gold number, else 0",
    "exact_match": "1 when the answer equals the gold text (case and surrounding spaces ignored), else 0",
    "llm_rubric": f"the model grades each answer 0..{RUBRIC_SCALE} against the reference answer with a generic "
                  "rubric; edit fitness_scorer.rubric in task_description.json to make it specific",
}


@dataclass
class Decision:
    answer_type: str
    scorer: dict[str, Any]
    why: str  # why this answer type (and, for text, this scorer)
    answer_max_tokens: int | None = None  # None: the loader's default
    notes: list[str] = field(default_factory=list)  # caveats worth printing

    @property
    def scorer_meaning(self) -> str:
        return SCORER_MEANING.get(self.scorer["type"], "as configured")


def decide(source: Source, override: str | None = None) -> Decision:
    """The answer type and scorer for `source`'s records (`override`: the user's --answer_type)."""
    if override is not None and override not in ANSWER_TYPES:
        raise UsageError(f"answer_type must be one of {', '.join(ANSWER_TYPES)} (got {override!r})")
    records = source.records
    with_choices = sum(1 for r in records if r.choices and r.choice_target is not None)
    notes = []
    if 0 < with_choices < len(records) and override != "choice":
        notes.append(f"only {with_choices} of {len(records)} examples have choices, so choices are not used")
    if override is not None:
        decision = _for_type(override, records, f"--answer_type {override} was given")
    elif with_choices == len(records) and source.prefer_targets_reason is None:
        sizes = sorted({len(r.choices or []) for r in records})
        count = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
        decision = _for_type("choice", records, f"every example lists its choices ({count} each), "
                                                 "so the model must answer with one of them")
    elif all(is_number(r.answer) for r in records):
        decision = _for_type("number", records, "every gold answer is a number, so the model answers with digits")
    else:
        decision = _for_type("text", records, "the gold answers are not all numbers and not every example has choices")
    if with_choices == len(records) and source.prefer_targets_reason and override is None:
        decision.why += f"; {source.prefer_targets_reason}"
    decision.notes = notes + decision.notes
    return decision


def _for_type(answer_type: str, records: list[Record], why: str) -> Decision:
    if answer_type == "choice":
        return Decision("choice", {"type": "multiple_choice"}, why)
    if answer_type == "number":
        return Decision("number", {"type": "numeric"}, why)
    longest = max((len(str(r.answer).split()) for r in records if r.answer is not None), default=0)
    if longest <= SHORT_TEXT_MAX_WORDS:
        return Decision("text", {"type": "exact_match"},
                        f"{why}; the gold answers are short (at most {longest} word{'' if longest == 1 else 's'}), "
                        "so an answer must match its gold exactly")
    return Decision(
        "text", {"type": "llm_rubric", "rubric": GENERIC_RUBRIC, "scale": RUBRIC_SCALE},
        f"{why}; the gold answers are free text (up to {longest} words), which an exact match would rarely hit, "
        "so the model grades each answer against its reference",
        # room for an answer about as long as the longest reference (a token is about 3/4 of a word)
        answer_max_tokens=max(64, min(512, 2 * longest)),
    )
