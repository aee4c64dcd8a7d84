"""Chat roles in queries, rendered with each model's own chat template.

A query says which role each part of its prompt plays with LMQL's role tags, `{:system}`, `{:user}` and
`{:assistant}`, never with a model's marker tokens:

    "{:system}You write short instructions.{:user}Problems of this kind:\n{task_description}"
    "{:assistant}1.[PROMPT]" where STOPS_AT(PROMPT, "\n")

Before LMQL compiles a query, the backend swaps every tag for the text the model's chat template writes
between the previous part and this one (`ChatFormat.render`). That text comes from the template itself:
a probe conversation with placeholder contents is rendered with the tokenizer's `apply_chat_template` and
cut at the placeholders (`ChatFormat.from_template`). So one query serves ChatML (SmolLM2, Qwen),
Llama-3, Gemma, Mistral, Phi and any other template, including templates that refuse a system turn (the
system text then opens the first user turn, as those models' own documentation does it).

A tag's part runs to the next tag; an `{:assistant}` part is the turn the model writes in (text after the
tag and before the first hole is written for it, as in "Answer: [ANSWER]"). The conversation order is the
order of the tags in the file, so a tag inside an `if` must follow the same role as the text before it.

Queries written the old way, with ChatML's `<|im_start|>` markers spelled out, still run on models whose
template is ChatML; for any other template `check` refuses them with a message naming the file.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from promptbreeder.errors import ModelError, UsageError

ROLE_TAG = re.compile(r"\{:(system|user|assistant)\}")
CHATML_MARKERS = ("<|im_start|>", "<|im_end|>")  # what every query hard-coded before role tags

# (role before, role) -> text between them; None is the start of the prompt
Glue = Mapping[tuple[str | None, str], str]

CHATML_GLUE: dict[tuple[str | None, str], str] = {
    (None, "system"): "<|im_start|>system\n",
    (None, "user"): "<|im_start|>user\n",
    ("system", "user"): "<|im_end|>\n<|im_start|>user\n",
    ("user", "assistant"): "<|im_end|>\n<|im_start|>assistant\n",
    ("assistant", "user"): "<|im_end|>\n<|im_start|>user\n",
}

# placeholder contents of the probe conversation: plain words, so no template's trimming or escaping
# touches them, and unlikely in any template's own text
_PROBE = {name: f"PBPROBE{name}X" for name in ("S", "U0", "A0", "U1")}
_MERGED_SYSTEM_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class ChatFormat:
    """How one model marks chat roles: the text the renderer puts in place of each role tag.

    `name` says where it came from (shown in run events and errors); `native` formats leave the tags to
    LMQL, for chat APIs that take messages rather than text.
    """

    name: str
    glue: Glue = field(default_factory=dict)
    native: bool = False

    @classmethod
    def chatml(cls, name: str = "ChatML") -> "ChatFormat":
        return cls(name, dict(CHATML_GLUE))

    @classmethod
    def native_messages(cls, name: str) -> "ChatFormat":
        return cls(name, {}, native=True)

    @classmethod
    def from_template(cls, render: Callable[[list[dict[str, str]], bool], str], name: str) -> "ChatFormat":
        """The format a chat template writes. `render(messages, add_generation_prompt)` is the template
        (`tokenizer.apply_chat_template(..., tokenize=False)`). Raises ModelError when the template cannot
        render a system / user / assistant conversation even with the system text folded into the user turn."""
        p = _PROBE
        tries = [("", [{"role": "system", "content": p["S"]}, {"role": "user", "content": p["U0"]}]),
                 # templates that refuse a system turn (Gemma, older Mistral): it opens the first user turn
                 (" (system text folded into the first user turn)",
                  [{"role": "user", "content": p["S"] + _MERGED_SYSTEM_SEPARATOR + p["U0"]}])]
        failures = []
        for note, opening in tries:
            try:
                conversation = render(opening + [{"role": "assistant", "content": p["A0"]},
                                                 {"role": "user", "content": p["U1"]}], True)
                user_only = render([{"role": "user", "content": p["U0"]}], True)
                glue = _cut(conversation, ["S", "U0", "A0", "U1"])
                glue_user_only = _cut(user_only, ["U0"])
            except Exception as exc:  # noqa: BLE001 - templates raise what they like (jinja's TemplateError, ...)
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            return cls(name + note, {
                (None, "system"): glue[0], ("system", "user"): glue[1], ("user", "assistant"): glue[4],
                ("assistant", "user"): glue[3], (None, "user"): glue_user_only[0]})
        raise ModelError(f"the chat template of {name} cannot render a system / user / assistant conversation"
                         f" ({'; '.join(failures)})")

    @classmethod
    def from_tokenizer(cls, tokenizer, name: str) -> "ChatFormat":
        """The tokenizer's own chat template; ChatML, as every query spelt it before role tags, where the
        tokenizer has none (a base model)."""
        if not getattr(tokenizer, "chat_template", None):
            return cls.chatml(f"ChatML ({name} has no chat template)")

        def render(messages, add_generation_prompt):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

        return cls.from_template(render, f"the chat template of {name}")

    @property
    def is_chatml(self) -> bool:
        """Whether this format writes exactly ChatML, so queries with spelt-out ChatML markers still fit."""
        return not self.native and all(self.glue.get(k) == v for k, v in CHATML_GLUE.items() if k != (None, "user"))

    def check(self, query: str, source: str) -> None:
        """Raise UsageError (naming `source`) when this format cannot render `query`."""
        check_not_mixed(query, source)
        roles = query_roles(query)
        if spells_out_chatml(query) and not self.is_chatml:
            raise UsageError(f"{source}: spells out ChatML markers (<|im_start|>), but the model uses {self.name};"
                             " write the roles as {:system} / {:user} / {:assistant} tags instead, so they are"
                             " rendered with the model's own template")
        if self.native:
            return
        for before, role in zip([None] + roles, roles):
            if (before, role) not in self.glue:
                known = ", ".join(f"{b or 'start'} -> {r}" for b, r in self.glue)
                article = "an" if role == "assistant" else "a"
                raise UsageError(f"{source}: {article} {role} part follows {before or 'the start'}, which {self.name} cannot"
                                 f" render (it renders {known})")

    def render(self, query: str, source: str = "query") -> str:
        """`query` with each role tag replaced by this format's text, escaped for an LMQL string."""
        self.check(query, source)
        if self.native or not ROLE_TAG.search(query):
            return query
        return _render(self.glue_items(), query)

    def glue_items(self) -> tuple[tuple[tuple[str | None, str], str], ...]:
        return tuple(sorted(self.glue.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])))

    def prompt(self, system: str | None, user: str) -> str:
        """A plain prompt (not a query): the texts in their roles, ending where the assistant writes."""
        text = (self.glue[(None, "system")] + system + self.glue[("system", "user")]) if system is not None \
            else self.glue[(None, "user")]
        return text + user + self.glue[("user", "assistant")]


def spells_out_chatml(query: str) -> bool:
    return any(marker in query for marker in CHATML_MARKERS)


def check_not_mixed(query: str, source: str) -> None:
    """Raise UsageError for a query with both role tags and spelt-out ChatML markers (it cannot be rendered
    for any model)."""
    if spells_out_chatml(query) and query_roles(query):
        raise UsageError(f"{source}: mixes role tags ({{:user}}, ...) with spelt-out ChatML markers (<|im_start|>);"
                         " write every role as a tag")


def query_roles(query: str) -> list[str]:
    """The role tags of a query in file order (comment lines skipped)."""
    return [m.group(1) for line in query.splitlines() if not line.lstrip().startswith("#")
            for m in ROLE_TAG.finditer(line)]


@functools.lru_cache(maxsize=256)
def _render(glue_items, query: str) -> str:
    glue, before = dict(glue_items), None
    lines = []
    for line in query.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            lines.append(line)
            continue

        def swap(match: re.Match) -> str:
            nonlocal before
            text, before = glue[(before, match.group(1))], match.group(1)
            return lmql_literal(text)

        lines.append(ROLE_TAG.sub(swap, line))
    return "".join(lines)


def lmql_literal(text: str) -> str:
    """`text` as it must be written inside a double-quoted LMQL prompt string to come out unchanged."""
    if "{" in text or "}" in text:
        raise ModelError(f"chat template text {text!r} has braces, which an LMQL prompt string cannot hold")
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t").replace("[", "[[").replace("]", "]]"))


def _cut(rendered: str, names: list[str]) -> list[str]:
    """The texts before, between and after the probe contents `names` in `rendered` (len(names) + 1)."""
    pieces, start = [], 0
    for name in names:
        at = rendered.find(_PROBE[name], start)
        if at < 0:
            raise ValueError(f"the template dropped or reordered a message ({name})")
        pieces.append(rendered[start:at])
        start = at + len(_PROBE[name])
    return pieces + [rendered[start:]]
