"""Backends run LMQL queries (see base.py for the contract). `create_backend` picks one for a run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest, QueryResult, Usage
from promptbreeder.backends.models import ModelSpec, chat_format, resolve_model
from promptbreeder.errors import UsageError

__all__ = ["Backend", "DecoderOptions", "ModelSpec", "QueryRequest", "QueryResult", "Usage", "chat_format",
           "check_reachable", "check_runnable", "create_backend", "resolve_model"]

if TYPE_CHECKING:
    from promptbreeder.config import RunConfig



def check_reachable(spec: ModelSpec) -> None:
    """Raise ModelError (one line naming the endpoint) when the model's server cannot be used; nothing
    to check for local models."""
    if spec.kind == "openai_compat":
        from promptbreeder.backends.server.http import ServerClient

        ServerClient(spec.endpoints, spec.identifier).check()


def check_runnable(spec: ModelSpec, query: str, source: str) -> None:
    """Raise UsageError (naming `source`) for a query `spec`'s backend cannot run: one LMQL does not compile,
    and on an OpenAI-compatible server a `distribution` clause (it needs log-probabilities, which servers
    are not asked for) or a constraint the client cannot check (see backends/server/constraints.py)."""
    from promptbreeder.backends.lmql.compile_check import check_compiles

    check_compiles(query, source)
    if spec.kind != "openai_compat":
        return
    from promptbreeder.backends.server.constraints import split_constraints

    if re.search(r"^\s*distribution\b", query, re.M):
        raise UsageError(f"{source}: a distribution clause needs the model's log-probabilities, which"
                         f" {spec.identifier} is not asked for on an OpenAI-compatible server; run this query"
                         " on a local model, or generate the answer under a constraint instead")
    split_constraints(query, source)


def create_backend(config: "RunConfig", spec: ModelSpec | None = None) -> Backend:
    """The backend for `spec` (default: the run's task model) with the run's settings: our in-process
    engine for local weights, a server client for servers, LMQL's own otherwise."""
    from promptbreeder.backends.lmql.backend import LMQLBackend, LMQLLocalBackend

    spec = spec or config.model_spec  # resolved once per run
    chat = chat_format(spec)
    if spec.kind == "servers":
        from promptbreeder.backends.lmql.servers import LMQLServersBackend

        return LMQLServersBackend(spec.identifier, spec.endpoints, chat_format=chat,
                                  client_batch_size=config.client_batch_size, chunk_size=config.chunk_size,
                                  is_async=config.is_async)
    if spec.kind == "openai_compat":
        from promptbreeder.backends.server.backend import OpenAICompatBackend

        return OpenAICompatBackend(spec.identifier, spec.endpoints, spec.tokenizer_dir, chat_format=chat,
                                   client_batch_size=config.client_batch_size, chunk_size=config.chunk_size,
                                   is_async=config.is_async)
    if spec.kind == "lmql":
        return LMQLBackend.from_model_string(spec.identifier, chat_format=chat,
                                             client_batch_size=config.client_batch_size, chunk_size=config.chunk_size,
                                             is_async=config.is_async)
    return LMQLLocalBackend(spec.local_dir(), chat_format=chat, device=config.device,
                            client_batch_size=config.client_batch_size, server_batch_size=config.server_batch_size,
                            chunk_size=config.chunk_size, is_async=config.is_async,
                            calculate_entropy=config.calculate_entropy, dtype=config.dtype)
