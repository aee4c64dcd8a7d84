"""LMQL queries against an OpenAI-compatible server: `--model_name_or_path openai-compat:<model>@<base url>`.

The queries run unchanged through LMQL on this machine; only the tokens come from the server (lmtp.py),
so the run cache, seeds, usage and the query files work as for a local model. Roles are rendered with
the served model's chat template on the client (its tokenizer must be here: a local folder, a `.gguf`,
the embedded model or a hub id in the Hugging Face cache) and sent to the completions endpoint as text.

What each constraint is guaranteed by (docs/servers.md has the table per server kind):
- stop phrases and token limits: by LMQL, between chunks, exactly as for local models;
- choices, INT and REGEX: checked on the reply (constraints.py); a reply that does not satisfy them is
  asked again up to `retries` times, sampling (temperature `retry_temperature`, a new seed each time),
  and the query fails after the last try (a failed fitness query scores as a wrong answer);
- choices by likelihood, text scoring and embeddings: not on servers (`can_score_text` is False), so
  choice tasks are answered by generation and the quality gate checks repetition only.

A server that stops answering (after the client's retries) stops the step with `ServerUnavailable`: the
run keeps its last saved step and `--continue_run_number` finishes it once the server is back.
"""

from __future__ import annotations

import dataclasses
import time

from promptbreeder.backends import models
from promptbreeder.backends.base import QueryRequest, QueryResult
from promptbreeder.backends.chat import ChatFormat
from promptbreeder.backends.lmql import fixes as lmql_fixes
from promptbreeder.backends.lmql.backend import LMQLBackend
from promptbreeder.backends.server.constraints import Validator, split_constraints
from promptbreeder.backends.server.http import ServerClient
from promptbreeder.backends.server.lmtp import ServerLMTPClient


class OpenAICompatBackend(LMQLBackend):
    name = "openai-compat"

    def __init__(self, model: str, base_urls: list[str] | tuple[str, ...], tokenizer_dir: str, *,
                 chat_format: ChatFormat | None = None, client_batch_size: int = 16, chunk_size: int = 32,
                 is_async: bool = True, timeout: float = 120.0, max_retries: int = 5, retries: int = 2,
                 retry_temperature: float = 0.7):
        from transformers import AutoTokenizer

        models.offline()
        lmql_fixes.apply()
        self.tokenizer_dir = str(tokenizer_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_dir, local_files_only=True)
        self.server = ServerClient(base_urls, model, concurrency=client_batch_size, timeout=timeout,
                                   max_retries=max_retries)
        self.client = ServerLMTPClient(self.server, self.tokenizer, model, self.server.detect_dialect())
        self.retries, self.retry_temperature = retries, retry_temperature
        self._rewritten: dict[str, tuple[str, tuple[Validator, ...]]] = {}  # query -> rewritten, validators
        self._validators_of: dict[str, tuple[Validator, ...]] = {}  # rewritten query -> its validators
        super().__init__(self._lmql_model(),
                         chat_format=chat_format or ChatFormat.from_tokenizer(self.tokenizer, model),
                         client_batch_size=client_batch_size, chunk_size=chunk_size, is_async=is_async)

    def _lmql_model(self):
        import lmql
        from lmql.models.lmtp.lmtp_dcmodel import lmtp_model

        factory = lmtp_model(self.tokenizer_dir, inprocess=True, tokenizer=self.tokenizer_dir)
        factory.inprocess_client_constructor_factory = lambda identifier, **kwargs: self.client
        return lmql.LLM(self.tokenizer_dir, adapter=factory(), configuration={})

    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        self.server.unavailable = None
        results = await super().run_batch(requests)
        if self.server.unavailable is not None:  # the server, not the queries: stop the step
            raise self.server.unavailable
        return results

    async def _run_on(self, request: QueryRequest, model) -> QueryResult:
        text, validators = self._rewrite(request)
        if not validators:
            return await super()._run_on(request, model)
        started, last = time.perf_counter(), None
        for attempt in range(self.retries + 1):
            asked = dataclasses.replace(request, query=text)
            if attempt:  # the same greedy reply would fail the same way: sample another one
                decoder = request.decoder.with_overrides(method="sample", temperature=self.retry_temperature)
                asked = dataclasses.replace(asked, decoder=decoder, seed=(request.seed or 0) * 1000 + attempt)
            result = await super()._run_on(asked, model)
            if not result.ok:
                return result
            last = _checked(result, validators, request.inputs)
            if last.ok or self.server.unavailable is not None:
                break
        last.seconds = time.perf_counter() - started
        return last

    def _rewrite(self, request: QueryRequest) -> tuple[str, tuple[Validator, ...]]:
        if request.query not in self._rewritten:
            text, validators = split_constraints(request.query, request.name or "query")
            self._rewritten[request.query] = text, validators
            self._validators_of[text] = validators
        return self._rewritten[request.query]

    def _filled_holes(self, request: QueryRequest) -> list[str]:
        # `request` is the rewritten one; its checked holes are present only where their branch ran
        checked = {v.hole for v in self._validators_of.get(request.query, ())}
        return [h for h in super()._filled_holes(request) if h not in checked]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def close(self) -> None:
        self.server.close()
        super().close()


def _checked(result: QueryResult, validators: tuple[Validator, ...], inputs: dict) -> QueryResult:
    """`result` with each checked hole repaired and back under its own name, or an error naming the reply."""
    variables = dict(result.variables)
    for validator in validators:
        if validator.hole not in variables:
            continue  # another branch of the query ran
        reply = variables.pop(validator.hole)
        repaired = validator.repair(reply, inputs)
        if repaired is None:
            return dataclasses.replace(result, variables={**variables, validator.variable: ""},
                                       error=f"the reply {reply!r} does not satisfy {validator.variable}"
                                             f" {validator.kind} {validator.argument}".rstrip())
        variables[validator.variable] = repaired
        if result.prompt.endswith(reply):
            result = dataclasses.replace(result, prompt=result.prompt[: len(result.prompt) - len(reply)] + repaired)
    return dataclasses.replace(result, variables=variables)
