"""A backend wrapper that answers repeated requests from a `CallCache` instead of the model.

Only successful results are stored. A cached answer comes back with `cached=True` and is counted in
`usage.cached_calls`, not in `usage.calls`: `usage.calls` is what the model actually did.
"""

from __future__ import annotations

from promptbreeder.backends.base import Backend, QueryRequest, QueryResult
from promptbreeder.store.cache import CallCache, fitness_key


class CachingBackend(Backend):
    name = "caching"

    def __init__(self, inner: Backend, cache: CallCache, model: str):
        super().__init__()
        self.inner, self.cache, self.model = inner, cache, model

    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        keys = [r.key(self.model) for r in requests]
        results: list[QueryResult | None] = []
        for key in keys:
            hit = self.cache.get_call(key)
            results.append(None if hit is None else QueryResult(cached=True, **hit))
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            fresh = await self.inner.run_batch([requests[i] for i in missing])
            for i, result in zip(missing, fresh):
                results[i] = result
                if result.ok:
                    self.cache.put_call(keys[i], self.model, requests[i].name, result.variables, result.prompt,
                                        result.prompt_tokens, result.generated_tokens)
        return results

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def chat_format(self):
        return self.inner.chat_format

    @property
    def can_score_text(self) -> bool:
        return self.inner.can_score_text

    def text_logprobs(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """The inner backend's, stored like fitness results: a continued run reads back the very numbers
        the killed one judged by (a fresh batch could differ in the last bits and flip a verdict)."""
        keys = [fitness_key("text_logprobs", self.model, context, text) for context, text in pairs]
        found, computed = self._read_through(
            keys, lambda missing: self.inner.text_logprobs([pairs[i] for i in missing]))
        self.usage.scored_texts += computed
        return found

    @property
    def can_embed_text(self) -> bool:
        return self.inner.can_embed_text

    def text_embeddings(self, texts: list[str]) -> list[list[float]]:
        """The inner backend's, stored for the same reason as `text_logprobs`."""
        keys = [fitness_key("text_embedding", self.model, text) for text in texts]
        found, _ = self._read_through(keys, lambda missing: self.inner.text_embeddings([texts[i] for i in missing]))
        return found

    def _read_through(self, keys: list[str], compute) -> tuple[list, int]:
        """The cached value of each key; those not cached from `compute(their indices)`, then stored.
        Returns the values in key order and how many were computed."""
        found = [self.cache.get_fitness(k) for k in keys]
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            for i, value in zip(missing, compute(missing)):
                found[i] = value
                self.cache.put_fitness(keys[i], value)
        return found, len(missing)

    def close(self) -> None:
        super().close()
        self.inner.close()
