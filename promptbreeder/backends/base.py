"""The backend contract: run LMQL queries, many at once, and account for what they cost.

A backend takes `QueryRequest`s (the LMQL query text *without* its decoder clause, the query's input
values, the decoder to use and an optional seed) and returns one `QueryResult` per request, in order.

Guarantees every backend gives (checked by tests/backends/test_contract.py against each one):
- `run_many` returns results in request order; a failed request gives a result with `error` set instead
  of raising, so one bad query never sinks a batch. `run` raises `BackendError` for a failed request.
- every hole `[NAME]` of the query is a key of `QueryResult.variables` (a string, possibly empty).
- the same request with the same seed returns the same variables (argmax always; sampling via the seed).
- `usage` counts calls, prompt tokens, generated tokens and seconds of every request.
- a decoder's `stop` sequences end every generated variable before the first of them (`cut_at_stops`);
  engines that can stop a row early do so, the others cut afterwards.
- a backend owns one event loop; callers never create their own.
- queries write chat roles as LMQL role tags (`{:system}`, `{:user}`, `{:assistant}`); the backend renders
  them with its `chat_format`, the model's own chat template (backends/chat.py).
- `text_logprobs` (optional, `can_score_text`) gives the model's log-probability of each token of a text
  after a context (the same up to float rounding that depends on the batch: the run cache keeps the
  numbers a verdict was made on); `text_embeddings` (optional, `can_embed_text`) one unit-length
  vector per text; a backend that cannot says so with `BackendError`.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import dataclasses
import hashlib
import json
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

from promptbreeder.backends.chat import ChatFormat
from promptbreeder.errors import BackendError, UsageError

DECODER_METHODS = ("argmax", "sample", "beam")
_DECODER_RE = re.compile(r"^\s*(?P<method>[a-z_]+)\s*(?:\((?P<args>.*)\))?\s*$", re.S)
_ALLOWED_ARGS = {
    "argmax": {"max_len", "chunksize", "stop"},
    "sample": {"temperature", "top_k", "top_p", "tfs", "top_a", "n", "max_len", "chunksize", "stop"},
    "beam": {"n", "max_len", "chunksize", "stop"},
}
# Options our own engine applies but LMQL 0.7.3 rejects in a decoder clause ("Unknown decoder
# argument"): the LMQL backends leave them out of the query text and hand them to the engine per query.
# `stop` (stop sequences) is never written for LMQL either: the backends apply it themselves.
ENGINE_ONLY_OPTIONS = ("tfs", "top_a")


@dataclass(frozen=True)
class DecoderOptions:
    """How LMQL decodes: `argmax`, `sample(temperature, top_k, top_p, tfs, top_a)` or `beam(n)`, each with
    optional `stop=["...", ...]` sequences that end every generated variable."""

    method: str = "argmax"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    n: int = 1
    max_len: int | None = None
    tfs: float | None = None  # tail-free sampling's z, in (0, 1]; 1 keeps everything
    top_a: float | None = None  # top-a factor, in [0, 1]; 0 keeps everything
    stop: tuple[str, ...] = ()  # a generated variable ends before the first of these

    @classmethod
    def parse(cls, text: str | None) -> "DecoderOptions":
        """Parse an LMQL decoder clause such as `sample(temperature=0.7, top_k=40)`. Raises UsageError."""
        if text is None or not str(text).strip():
            return cls()
        match = _DECODER_RE.match(str(text))
        if not match or match.group("method") not in DECODER_METHODS:
            raise UsageError(
                f"decoder {text!r} is not one of {', '.join(DECODER_METHODS)}"
                " (written like 'argmax', 'sample(temperature=0.7, top_p=0.9)' or 'beam(n=2)')"
            )
        method, args = match.group("method"), {}
        if match.group("args") and match.group("args").strip():
            try:
                call = ast.parse(f"f({match.group('args')})", mode="eval").body
                if call.args:
                    raise ValueError("positional arguments")
                args = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
            except (SyntaxError, ValueError) as exc:
                raise UsageError(f"decoder {text!r}: arguments must be name=number pairs ({exc})") from None
        unknown = set(args) - _ALLOWED_ARGS[method]
        if unknown:
            raise UsageError(
                f"decoder {text!r}: unknown option(s) {', '.join(sorted(unknown))};"
                f" {method} accepts {', '.join(sorted(_ALLOWED_ARGS[method]))}"
            )
        args.pop("chunksize", None)  # chunk size is a per-run setting (--chunk_size), not a decoder option
        if "stop" in args:
            stop = args["stop"]
            stop = [stop] if isinstance(stop, str) else stop
            if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
                raise UsageError(f"decoder {text!r}: stop must be a string or a list of strings, e.g. stop=['\\n\\n']")
            args["stop"] = tuple(stop)
        options = cls(method=method, **args)
        options.validate()
        return options

    def validate(self) -> None:
        if self.method not in DECODER_METHODS:
            raise UsageError(f"decoder method {self.method!r} is not one of {', '.join(DECODER_METHODS)}")
        if self.temperature <= 0:
            raise UsageError(f"decoder temperature must be > 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"decoder top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UsageError(f"decoder top_p must be in (0, 1], got {self.top_p}")
        if self.tfs is not None and not 0 < self.tfs <= 1:
            raise UsageError(f"decoder tfs must be in (0, 1] (1 turns tail-free sampling off), got {self.tfs}")
        if self.top_a is not None and not 0 <= self.top_a <= 1:
            raise UsageError(f"decoder top_a must be in [0, 1] (0 turns top-a sampling off), got {self.top_a}")
        if self.n < 1:
            raise UsageError(f"decoder n must be >= 1, got {self.n}")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise UsageError(f"decoder stop must be a tuple of non-empty strings, got {self.stop!r}")

    @classmethod
    def from_settings(cls, temperature: float, top_k: int = 0, top_p: float = 1.0, tfs: float = 1.0,
                      top_a: float = 0.0, stop: tuple[str, ...] = ()) -> "DecoderOptions":
        """The decoder of sampling settings written with their neutral values for "off" (top_k 0, top_p and
        tfs 1, top_a 0), as search spaces write them; temperature 0 decodes greedily. Raises UsageError."""
        if float(temperature) <= 0:
            return cls(method="argmax", stop=stop)
        decoder = cls(method="sample", temperature=float(temperature), top_k=int(top_k) if top_k else None,
                      top_p=float(top_p) if top_p < 1 else None, tfs=float(tfs) if tfs < 1 else None,
                      top_a=float(top_a) if top_a > 0 else None, stop=stop)
        decoder.validate()
        return decoder

    def with_overrides(self, **changes: Any) -> "DecoderOptions":
        merged = {**asdict(self), **{k: v for k, v in changes.items() if v is not None}}
        options = DecoderOptions(**merged)
        options.validate()
        return options

    def to_lmql(self, *, engine_options: bool = True) -> str:
        """The decoder clause, which `parse` reads back as these options.

        LMQL raises KeyError for decoder kwargs, so the clause goes at the top of the query text; with
        `engine_options=False` it leaves out ENGINE_ONLY_OPTIONS, for LMQL, which rejects them.
        """
        stop = f"stop={list(self.stop)!r}" if self.stop and engine_options else ""
        if self.method == "argmax":
            return f"argmax({stop})" if stop else "argmax"
        if self.method == "beam":
            return f"beam(n={self.n}{', ' + stop if stop else ''})"
        parts = [f"temperature={self.temperature!r}", f"n={self.n}"]
        if self.top_k is not None:
            parts.append(f"top_k={self.top_k}")
        if self.top_p is not None:
            parts.append(f"top_p={self.top_p!r}")
        parts += [f"{name}={value!r}" for name, value in self.engine_options().items() if engine_options]
        parts += [stop] if stop else []
        return f"sample({', '.join(parts)})"

    def engine_options(self) -> dict[str, float]:
        """The set ENGINE_ONLY_OPTIONS of a sampling decoder (none for argmax and beam)."""
        if self.method != "sample":
            return {}
        return {name: getattr(self, name) for name in ENGINE_ONLY_OPTIONS if getattr(self, name) is not None}


def cut_at_stops(variables: dict[str, str], stops: tuple[str, ...]) -> dict[str, str]:
    """Each value up to (not including) the earliest of `stops` it contains."""
    if not stops:
        return variables
    cut = {}
    for name, value in variables.items():
        ends = [i for i in (value.find(s) for s in stops) if i >= 0]
        cut[name] = value[: min(ends)] if ends else value
    return cut


@dataclass(frozen=True)
class QueryRequest:
    """One LMQL query to run: `query` is the query text without decoder clause, `inputs` its `{values}`."""

    query: str
    inputs: dict[str, Any] = field(default_factory=dict)
    decoder: DecoderOptions = DecoderOptions()
    seed: int | None = None
    name: str = ""  # e.g. the .lmql file name, for accounting and logs

    def key(self, model: str = "") -> str:
        """Stable identity of this request to `model` (its canonical name): query text, inputs, decoder
        and seed. The run cache and recorded transcripts key answers by it; the name is only a label."""
        payload = json.dumps([model, self.query, self.inputs, dataclasses.asdict(self.decoder), self.seed],
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class QueryResult:
    variables: dict[str, str]
    prompt: str = ""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    cached: bool = False  # answered from a cache, not by the model
    # with calculate_entropy on our engine: entropy (nats) of the model's next-token distribution at each
    # generated step, tokens LMQL later discarded included; empty otherwise
    entropy: list[float] = field(default_factory=list)

    @property
    def mean_entropy(self) -> float | None:
        return sum(self.entropy) / len(self.entropy) if self.entropy else None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Usage:
    """Running totals of what a backend did; `by_name` splits them per query name."""

    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    scored_texts: int = 0  # texts `text_logprobs` asked the model about (cached ones not counted)
    by_name: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self, request: QueryRequest, result: QueryResult) -> None:
        if result.cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.failed_calls += 0 if result.ok else 1
        self.prompt_tokens += result.prompt_tokens
        self.generated_tokens += result.generated_tokens
        self.seconds += result.seconds
        per = self.by_name.setdefault(request.name or "<anonymous>", {"calls": 0, "generated_tokens": 0, "seconds": 0.0})
        per["calls"] += 1
        per["generated_tokens"] += result.generated_tokens
        per["seconds"] += result.seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


HOLE_RE = re.compile(r"\[\s*(?:[a-z_]+\s*\(\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\)|:[^\]]*)?\]")


def query_holes(query: str) -> list[str]:
    """Names of the `[VAR]` holes of an LMQL query's prompt strings, in order (`[[` escapes are skipped)."""
    names: list[str] = []
    for literal in re.findall(r'"""(.*?)"""|"((?:[^"\\]|\\.)*)"', query, re.S):
        text = (literal[0] or literal[1]).replace("[[", "").replace("]]", "")
        for name in HOLE_RE.findall(text):
            if name not in names:
                names.append(name)
    return names


STOP_RE = re.compile(r'STOPS_(?:AT|BEFORE)\(\s*\w+\s*,\s*("(?:[^"\\]|\\.)*")\s*\)')


TOKEN_LIMIT_RE = re.compile(r"len\(\s*TOKENS\(\s*(\w+)\s*\)\s*\)\s*(<=?)\s*(\w+)")


def longest_hole(query: str, inputs: dict[str, Any]) -> int | None:
    """The most tokens any hole of `query` may hold under its `len(TOKENS(VAR)) < N` constraints (N a
    number or an input), or None when some hole has no such limit (or it cannot be read)."""
    limits: dict[str, int] = {}
    for name, operator, bound in TOKEN_LIMIT_RE.findall(query):
        value = int(bound) if bound.isdigit() else inputs.get(bound)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        limit = value - 1 if operator == "<" else value
        limits[name] = max(limits.get(name, limit), limit)
    holes = query_holes(query)
    if not holes or any(hole not in limits for hole in holes):
        return None
    return max(limits[hole] for hole in holes)


def stop_phrases(query: str) -> tuple[str, ...]:
    """The literal phrases of a query's `STOPS_AT` / `STOPS_BEFORE` constraints."""
    phrases = []
    for literal in STOP_RE.findall(query):
        try:
            phrase = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            continue
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return tuple(phrases)


def run_to_completion(loop: asyncio.AbstractEventLoop, awaitable: Any) -> Any:
    """`loop.run_until_complete(awaitable)`, also where this thread already runs a loop of its own (a Jupyter
    cell, an async application), which may not run a second one: then in a helper thread, while this one
    waits. Either way the backend's own loop does the work, so its state stays on one loop."""
    try:
        asyncio.get_running_loop()
        inside_a_loop = True
    except RuntimeError:
        inside_a_loop = False
    if not inside_a_loop:  # outside the except block: errors of the work must not chain to this probe
        return loop.run_until_complete(awaitable)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptbreeder-loop") as helper:
        return helper.submit(loop.run_until_complete, awaitable).result()


class Backend(ABC):
    """Runs LMQL queries. Subclasses implement `run_batch` (async: the extension point a wrapper such as
    `CachingBackend` calls on the backend it wraps); `run_many` runs it on the backend's own event loop and
    counts usage."""

    name = "backend"
    can_score_text = False  # whether `text_logprobs` works (local models; servers may not say)
    can_embed_text = False  # whether `text_embeddings` works
    chat_format = ChatFormat.chatml()  # how role tags become the model's markers; backends set the model's own

    def __init__(self) -> None:
        self.usage = Usage()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @abstractmethod
    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        """Run the requests concurrently; return one result per request, errors inside results."""

    def run_many(self, requests: list[QueryRequest]) -> list[QueryResult]:
        """Run requests concurrently (batched into shared generate calls where the backend can)."""
        if not requests:
            return []
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            results = run_to_completion(self._loop, self.run_batch(list(requests)))
        for request, result in zip(requests, results):
            self.usage.record(request, result)
        return results

    def run(self, request: QueryRequest) -> QueryResult:
        result = self.run_many([request])[0]
        if not result.ok:
            raise BackendError(f"query {request.name or '<anonymous>'} failed: {result.error}")
        return result

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` for this backend's model (fake backends count whitespace words)."""
        return len(text.split())

    def text_logprobs(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """For each (context, text): the log-probability of each token of `text` after `context`, one
        forward pass for the whole batch. Raises BackendError where the model cannot say."""
        raise BackendError(f"the {self.name} backend cannot score text (no log-probabilities)")

    def text_embeddings(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text (cosine similarity = dot product), in one batch. Raises
        BackendError where the model cannot give them."""
        raise BackendError(f"the {self.name} backend cannot embed text")

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        for _ in range(3):  # a cancelled task may start others while it cleans up (LMQL's websocket clients do)
            leftovers = asyncio.all_tasks(loop)
            if not leftovers:
                break
            for task in leftovers:
                task.cancel()
            run_to_completion(loop, asyncio.gather(*leftovers, return_exceptions=True))
        run_to_completion(loop, loop.shutdown_asyncgens())
        loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
