"""A deterministic backend without a model, for unit tests (in the spirit of DSPy's dummy LM).

Replies come from, in order of precedence:
- `responder(request) -> dict | str`: computes the variables (a str fills the first hole);
- `transcript`: replies recorded from a real backend, keyed by `QueryRequest.key` (see `Recorder`);
- `replies`: a list of dicts/strings handed out in order (cycling), or a dict mapping a query
  `name` to such a list.
A request no source answers gets every hole filled with `default` (an error when `strict`).

Like a server without log-probabilities, it cannot score or embed text unless given `text_scorer(context,
text) -> list[float]` (`plain_word_logprobs` behaves like a real model in the ways tests need) or
`text_embedder(text) -> list[float]` (e.g. `word_count_embedding`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import Backend, QueryRequest, QueryResult, cut_at_stops, query_holes
from promptbreeder.backends.chat import ChatFormat, check_not_mixed

FAKE_CHAT_FORMAT = ChatFormat.chatml("ChatML (the fake backend's)")
_INPUT_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLAIN_WORD = re.compile(r"^[\"'(]?[A-Za-z][a-z]{0,11}[.,;:!?)\"']*$")


def render_prompt(request: QueryRequest, variables: dict[str, str]) -> str:
    """The query's prompt text, roles in ChatML (the fake model's chat format), with inputs and holes filled
    in (good enough for tests and logs). Raises UsageError for a query no chat format can render."""
    query = FAKE_CHAT_FORMAT.render(request.query, request.name or "query")
    parts = re.findall(r'"""(.*?)"""|"((?:[^"\\]|\\.)*)"', query, re.S)
    with warnings.catch_warnings():  # the quoted pieces include where-clause regexes ("\.") that are not escapes
        warnings.simplefilter("ignore", DeprecationWarning)
        text = "".join(a or b for a, b in parts).encode().decode("unicode_escape", errors="ignore")
    text = _INPUT_RE.sub(lambda m: str(request.inputs.get(m.group(1), m.group(0))), text)
    for name, value in variables.items():
        text = re.sub(r"\[\s*(?:[a-z_]+\s*\(\s*)?" + re.escape(name) + r"\s*(?:\)|:[^\]]*)?\]", lambda _: value, text)
    return text


class FakeBackend(Backend):
    name = "fake"
    chat_format = FAKE_CHAT_FORMAT

    def __init__(self, replies: list | dict | None = None, *, responder: Callable[[QueryRequest], Any] | None = None,
                 transcript: dict[str, dict] | str | Path | None = None, default: str = "", strict: bool = False,
                 text_scorer: Callable[[str, str], list[float]] | None = None,
                 text_embedder: Callable[[str], list[float]] | None = None):
        super().__init__()
        self.text_scorer = text_scorer
        self.text_embedder = text_embedder
        self.replies = replies
        self.responder = responder
        self.transcript = load_transcript(transcript) if isinstance(transcript, (str, Path)) else (transcript or {})
        self.default = default
        self.strict = strict
        self.requests: list[QueryRequest] = []  # everything asked, for assertions
        self.batches: list[list[str]] = []  # the query names of each batch: what went out together
        self._cursor: dict[str, int] = {}

    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        self.batches.append([r.name for r in requests])
        return [self._answer(r) for r in requests]

    def _answer(self, request: QueryRequest) -> QueryResult:
        self.requests.append(request)
        holes = query_holes(request.query)
        try:
            check_not_mixed(request.query, request.name or "query")
            reply = self._reply(request)
        except Exception as exc:  # a responder may raise to simulate a failed query
            return QueryResult(variables={h: "" for h in holes}, error=f"{type(exc).__name__}: {exc}")
        if reply is None:
            if self.strict:
                return QueryResult(variables={h: "" for h in holes}, error="no scripted reply for this request")
            reply = {h: self.default for h in holes}
        if isinstance(reply, str):
            reply = {holes[0] if holes else "RESULT": reply}
        variables = cut_at_stops({h: "" for h in holes} | {k: str(v) for k, v in reply.items()}, request.decoder.stop)
        prompt = render_prompt(request, variables)
        generated = sum(self.count_tokens(v) for v in variables.values())
        return QueryResult(variables=variables, prompt=prompt, generated_tokens=generated,
                           prompt_tokens=max(self.count_tokens(prompt) - generated, 0))

    @property
    def can_score_text(self) -> bool:
        return self.text_scorer is not None

    def text_logprobs(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        if self.text_scorer is None:
            return super().text_logprobs(pairs)
        return [self.text_scorer(context, text) for context, text in pairs]

    @property
    def can_embed_text(self) -> bool:
        return self.text_embedder is not None

    def text_embeddings(self, texts: list[str]) -> list[list[float]]:
        if self.text_embedder is None:
            return super().text_embeddings(texts)
        return [self.text_embedder(text) for text in texts]

    def _reply(self, request: QueryRequest):
        if self.responder is not None:
            return self.responder(request)
        key = request.key()
        if key in self.transcript:
            return self.transcript[key]
        replies = self.replies
        if isinstance(replies, dict):
            replies = replies.get(request.name)
        if not replies:
            return None
        lane = request.name if isinstance(self.replies, dict) else ""
        index = self._cursor.get(lane, 0)
        self._cursor[lane] = index + 1
        return replies[index % len(replies)]


def plain_word_logprobs(context: str, text: str) -> list[float]:
    """A fake model's token log-probabilities, one per whitespace word: -6 for a word that is not plain
    (letters, at most 12, maybe with punctuation), as glued or invented words cost a real model; -1 for a
    plain word, and -0.5 when the context contains it too, as a real model expects what it has just read."""
    seen = {w.strip(".,;:!?()\"'").lower() for w in context.split()}
    return [(-0.5 if word.strip(".,;:!?()\"'").lower() in seen else -1.0) if _PLAIN_WORD.match(word) else -6.0
            for word in text.split()] or [-6.0]


def word_count_embedding(text: str, size: int = 64) -> list[float]:
    """A fake embedding: hashed counts of the text's lower-cased words, unit length (same words, same
    vector; cosine similarity falls with the share of words two texts do not share)."""
    vector = [0.0] * size
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % size] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class Recorder(Backend):
    """Wraps a real backend and records its replies, to replay later through `FakeBackend(transcript=...)`."""

    name = "recorder"

    def __init__(self, inner: Backend):
        super().__init__()
        self.inner = inner
        self.transcript: dict[str, dict] = {}

    async def run_batch(self, requests):
        results = await self.inner.run_batch(requests)
        for request, result in zip(requests, results):
            if result.ok:
                self.transcript[request.key()] = result.variables
        return results

    def save(self, path: str | Path) -> None:
        Path(path).write_text("".join(json.dumps({"key": k, "variables": v}) + "\n" for k, v in self.transcript.items()))


def load_transcript(path: str | Path) -> dict[str, dict]:
    entries = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            entries[entry["key"]] = entry["variables"]
    return entries
