"""Queries spread over several LMQL inference servers (`lmql serve-model`, or `python -m promptbreeder.commands.serve`).

`--model_name_or_path lmql-serve:<model>@127.0.0.1:8080,127.0.0.1:8081` makes a run send its queries to
those servers: each query goes to the next live server in turn, so a batch of concurrent queries is
shared among them. The client side needs the served model's tokenizer, so <model> is a local model.

A server that dies mid-run loses only the queries it was answering: while a query runs, a watchdog
checks every `probe_seconds` that its server still accepts connections; when it does not (or the query
fails for a transport reason, or takes longer than `timeout`), the server is taken out of the rotation
and the query is asked again, from the start, on another one. Only when every server is gone does a
query fail, and then the run's usual handling applies (retry, or a failed score).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time

from promptbreeder.backends import models
from promptbreeder.backends.lmql import fixes as lmql_fixes
from promptbreeder.backends.chat import ChatFormat
from promptbreeder.backends.base import QueryRequest, QueryResult, query_holes
from promptbreeder.backends.lmql.backend import LMQLBackend

# errors of a query that say the server, not the query, is the problem
TRANSPORT_WORDS = ("connect", "connection", "websocket", "closed", "refused", "reset", "broken pipe", "timeout",
                   "endpoint")


def server_alive(endpoint: str, wait: float = 1.0) -> bool:
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=wait):
            return True
    except OSError:
        return False


class LMQLServersBackend(LMQLBackend):
    name = "lmql-servers"

    def __init__(self, model_dir: str, endpoints: tuple[str, ...] | list[str], *, chat_format: ChatFormat | None = None,
                 client_batch_size: int = 16, chunk_size: int = 32, is_async: bool = True, timeout: float = 900.0,
                 probe_seconds: float = 1.0):
        import lmql

        models.offline()  # the client loads the tokenizer: never from the network
        lmql_fixes.apply()
        self.model_dir, self.endpoints = str(model_dir), list(endpoints)
        self.timeout, self.probe_seconds = timeout, probe_seconds
        self.models = [lmql.model(self.model_dir, endpoint=e, tokenizer=self.model_dir) for e in self.endpoints]
        self.down: dict[int, str] = {}  # server index -> why it was taken out of the rotation
        self.served = [0] * len(self.endpoints)  # queries each server answered
        self._turn = 0
        super().__init__(self.models[0],
                         chat_format=chat_format or ChatFormat.from_tokenizer(self._tokenizer, self.model_dir),
                         client_batch_size=client_batch_size, chunk_size=chunk_size, is_async=is_async)

    def _next_server(self, tried: set[int]) -> int | None:
        live = [i for i in range(len(self.endpoints)) if i not in self.down and i not in tried]
        if not live:
            return None
        index = live[self._turn % len(live)]
        self._turn += 1
        return index

    async def _run_one(self, request: QueryRequest) -> QueryResult:
        tried: set[int] = set()
        while True:
            index = self._next_server(tried)
            if index is None:
                reasons = "; ".join(f"{self.endpoints[i]}: {why}" for i, why in sorted(self.down.items()))
                return QueryResult(variables={h: "" for h in query_holes(request.query)},
                                   error=f"no LMQL server left to ask ({reasons or 'all tried'})")
            tried.add(index)
            result, failure = await self._watched(request, index)
            if failure is None:
                self.served[index] += 1
                return result
            self.down[index] = failure

    async def _watched(self, request: QueryRequest, index: int) -> tuple[QueryResult | None, str | None]:
        """The query on server `index`, or why the server failed it (then the query is asked elsewhere)."""
        endpoint = self.endpoints[index]
        task = asyncio.ensure_future(self._run_on(request, self.models[index]))
        started = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=self.probe_seconds)
            if task.done():
                break
            alive = await asyncio.get_running_loop().run_in_executor(None, server_alive, endpoint)
            if not alive or time.monotonic() - started > self.timeout:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return None, "stopped accepting connections" if not alive else f"no answer in {self.timeout:g} s"
        result = task.result()
        if result.error and any(word in result.error.lower() for word in TRANSPORT_WORDS) \
                and not server_alive(endpoint):
            return None, result.error
        return result, None

    @functools.cached_property
    def _tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False).input_ids)
