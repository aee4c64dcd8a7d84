"""Turning a model's raw reply into a usable prompt, and the token similarity the operators share.

Small chat models wrap what they were asked for in list markers, labels, quotes and trailing chatter,
or simply repeat the instruction they were shown. `clean_prompt` keeps the first paragraph without
that wrapping and returns None for anything not worth a fitness evaluation, so the engine can retry.
"""

from __future__ import annotations

import re

from promptbreeder.genomes.prompt.operators.base import MAX_PROMPT_CHARS

MIN_PROMPT_CHARS = 8
ECHO_JACCARD = 0.95

_WORD = re.compile(r"[a-z0-9]+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACES = re.compile(r"\s+")
# chat-template tokens can leak into a hole when a model (or a day-care override) lacks a stop
_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>|</s>")
_LIST_MARKER = re.compile(r"^(?:\(?\d{1,3}[.):]|[-*\u2022+>]|#{1,6})(?:\s+|$)")
# labels a model puts before the text it was asked for ("New prompt:", "Improved instruction 2:")
_LABEL = re.compile(
    r"^(?:(?:the|my|a|an|new|improved|better|final|mutated|revised|rewritten|next|task|one)\s+){0,3}"
    r"(?:prompt|instruction|mutation[ -]prompt|mutator|hint|tip)s?(?:\s*\d{1,3})?\s*:\s*",
    re.I,
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"


def normalised_tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric words: what two prompts are compared on."""
    return _WORD.findall(text.lower())


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the normalised word sets (two texts without words count as equal)."""
    sa, sb = set(normalised_tokens(a)), set(normalised_tokens(b))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def is_near_echo(text: str, echo: str, threshold: float = ECHO_JACCARD) -> bool:
    if not echo or not echo.strip():
        return False
    return normalised_tokens(text) == normalised_tokens(echo) or jaccard(text, echo) > threshold


def _strip_ends(text: str) -> str:
    # wrappers nest ('1. "Prompt: ..."'), so peel until nothing changes
    while True:
        before = text
        text = text.strip().strip(_QUOTES).strip()
        text = _LIST_MARKER.sub("", text, count=1)
        text = _LABEL.sub("", text, count=1)
        if text == before:
            return text


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rfind(" ")
    # a word boundary far back would throw away most of the prompt; a hard cut is the lesser evil
    text = text[:cut] if cut > limit // 2 else text[:limit]
    return text.rstrip(" ,;:-")


def clean_prompt(text: str | None, *, echoes: list[str] = ()) -> str | None:
    """The prompt inside a model reply, or None when there is none worth evaluating.

    Keeps the first paragraph, drops list markers, labels and quotes around it, collapses whitespace and
    caps the length at MAX_PROMPT_CHARS on a word boundary. None when the result is shorter than
    MIN_PROMPT_CHARS, has fewer than two words with letters (garbled output), or is a near-echo
    (same words, or word-set Jaccard > 0.95) of one of `echoes`: the texts the model was shown.
    """
    if not isinstance(text, str):
        return None
    text = _SPECIAL_TOKEN.split(text, maxsplit=1)[0].replace("**", "").replace("__", "")
    text = _strip_ends(text)
    text = _BLANK_LINE.split(text, maxsplit=1)[0]
    text = _SPACES.sub(" ", _strip_ends(text)).strip()
    text = _strip_ends(_cap(text, MAX_PROMPT_CHARS))
    if len(text) < MIN_PROMPT_CHARS:
        return None
    if sum(1 for w in normalised_tokens(text) if re.search("[a-z]", w)) < 2:
        return None
    if any(is_near_echo(text, echo) for echo in echoes):
        return None
    return text
