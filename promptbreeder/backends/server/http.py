"""Talking to an OpenAI-compatible server: bounded concurrency, timeouts, retries, usage, clear errors.

`ServerClient.complete` posts one request to `<base_url>/completions` (several base URLs are asked in
turn, and one that fails is skipped while others answer). Connection errors, timeouts, 429 and 5xx answers
are retried with exponential backoff (honouring `Retry-After`); when every try failed, `ServerUnavailable`
says so, and the backend stops the run's step instead of scoring the missing answers as wrong. Other
4xx answers (a wrong model name, a rejected field) are `ServerError`s of the request alone.

The API key comes from the environment (`PROMPTBREEDER_API_KEY`, else `OPENAI_API_KEY`), never from a
file: the model string and the run folder hold no secret.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import Any

from promptbreeder.backends.base import run_to_completion
from promptbreeder.errors import BackendError, ModelError

API_KEY_VARIABLES = ("PROMPTBREEDER_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class ServerError(BackendError):
    """One request was refused or answered with something unreadable; other requests may still work."""


class ServerUnavailable(BackendError):
    """No server answered after every retry: the run's step stops, and the run can be continued later."""


def api_key() -> str | None:
    return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


@dataclass
class ServerUsage:
    """What the servers reported in `usage` (their token counts, not ours) and how often we retried."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    # money, where the server says what a request cost (`usage.cost`: OpenRouter and other gateways);
    # None while no answer said so (we keep no price lists: they change, and differ per contract)
    cost: float | None = None
    by_url: dict[str, int] = field(default_factory=dict)


class ServerClient:
    def __init__(self, base_urls: list[str] | tuple[str, ...], model: str, *, concurrency: int = 16,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 8.0):
        import httpx

        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.model = model
        self.timeout, self.max_retries, self.backoff, self.max_backoff = timeout, max_retries, backoff, max_backoff
        self.concurrency = concurrency
        self.usage = ServerUsage()
        # the last ServerUnavailable: LMQL turns it into a failed query, the backend raises it for the batch
        self.unavailable: ServerUnavailable | None = None
        self._turn = 0
        self._gate: asyncio.Semaphore | None = None
        self._gate_loop = None
        self._client: httpx.AsyncClient | None = None
        self._client_loop = None
        key = api_key()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    # -- checks before a run ----------------------------------------------------------------------------

    def detect_dialect(self) -> str:
        """"transformers-serve" when the first server is Hugging Face's `transformers serve` (it samples only
        when a request's `generation_config` says so), else "openai". Never raises."""
        import httpx

        try:
            listed = httpx.get(f"{self.base_urls[0]}/models", headers=self.headers, timeout=10.0).json()["data"]
            if any(m.get("owned_by") == "local" and "status" in m for m in listed):
                return "transformers-serve"
        except Exception:  # noqa: BLE001 - an unreadable answer is check()'s business; assume plain OpenAI
            pass
        return "openai"

    def check(self) -> None:
        """Raise ModelError (one line, naming the endpoint) unless every server answers `/models` with JSON
        that lists the model. Runs before a run folder is made."""
        import httpx

        for base in self.base_urls:
            url = f"{base}/models"
            try:
                response = httpx.get(url, headers=self.headers, timeout=min(self.timeout, 15.0))
            except httpx.HTTPError as exc:
                raise ModelError(f"cannot reach the server at {url}: {type(exc).__name__}: {exc or 'no answer'}")\
                    from None
            if response.status_code in (401, 403):
                raise ModelError(f"{url} answered {response.status_code} ({_reason(response)}): set"
                                 f" {' or '.join(API_KEY_VARIABLES)} to the server's API key")
            if response.status_code >= 400:
                raise ModelError(f"{url} answered {response.status_code}: {_reason(response)}")
            try:
                served = [m["id"] for m in response.json()["data"]]
            except (ValueError, KeyError, TypeError):
                raise ModelError(f"{url} did not answer with an OpenAI model list (got {response.text[:120]!r})") \
                    from None
            if self.model not in served:
                raise ModelError(f"{url} does not serve {self.model!r}; it serves: {', '.join(served) or '(nothing)'}")

    # -- requests ----------------------------------------------------------------------------------------

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` (model added) to `/completions`; returns the answer's JSON. Raises ServerError or
        ServerUnavailable."""
        async with self._semaphore():
            return await self._post("/completions", {"model": self.model, **body})

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        client = self._http()
        failures: list[str] = []
        for attempt in range(self.max_retries + 1):
            base = self.base_urls[(self._turn + attempt) % len(self.base_urls)]
            url = base + path
            wait = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            try:
                response = await client.post(url, json=body, headers=self.headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc or 'no answer'}")
            else:
                if response.status_code < 400:
                    self._turn += 1
                    return self._read(url, response)
                if response.status_code not in RETRY_STATUS:
                    raise ServerError(f"{url} answered {response.status_code}: {_reason(response)}")
                failures.append(f"{url}: {response.status_code} {_reason(response)}")
                wait = max(wait, _retry_after(response))
            if attempt < self.max_retries:
                self.usage.retries += 1
                await asyncio.sleep(wait)
        self.unavailable = ServerUnavailable(f"no answer after {self.max_retries + 1} tries ({failures[-1]})")
        raise self.unavailable

    def _read(self, url: str, response) -> dict[str, Any]:
        try:
            data = response.json()
            choice = data["choices"][0]
            if not isinstance(choice.get("text"), str):
                raise KeyError("text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ServerError(f"{url} answered with something that is not an OpenAI completion:"
                              f" {response.text[:160]!r}") from None
        usage = data.get("usage") or {}
        self.usage.requests += 1
        self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
        if isinstance(usage.get("cost"), (int, float)):
            self.usage.cost = (self.usage.cost or 0.0) + float(usage["cost"])
        self.usage.by_url[url] = self.usage.by_url.get(url, 0) + 1
        return data

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:
            self._gate, self._gate_loop = asyncio.Semaphore(self.concurrency), loop
        return self._gate

    def _http(self):
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            self._client, self._client_loop = httpx.AsyncClient(limits=limits), loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def close(self) -> None:
        """Close the connections on the event loop that opened them; where that loop is closed already (a
        wrapping backend's, closed first), its sockets went with it."""
        loop = self._client_loop
        if self._client is not None and loop is not None and not loop.is_closed() and not loop.is_running():
            run_to_completion(loop, self.aclose())
        self._client = None


def _reason(response) -> str:
    """The server's own words for an error answer, short."""
    try:
        data = response.json()
        detail = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        return str(detail)[:200]
    except ValueError:
        return (response.text or response.reason_phrase or "")[:200] or "no reason given"


def _retry_after(response) -> float:
    try:
        return min(float(response.headers.get("retry-after", 0)), 60.0)
    except ValueError:
        return 0.0
