"""Backends run LMQL queries (see base.py for the contract). `create_backend` picks one for a run."""

from __future__ import annotations

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest, QueryResult, Usage
from promptbreeder.backends.models import resolve_model

__all__ = ["Backend", "DecoderOptions", "QueryRequest", "QueryResult", "Usage", "create_backend"]


def create_backend(config) -> Backend:
    """The backend for a `RunConfig`: our in-process engine for local weights, LMQL's own otherwise."""
    from promptbreeder.backends.lmql_local import LMQLBackend, LMQLLocalBackend

    spec = resolve_model(config.model_name_or_path)
    if spec.kind == "servers":
        from promptbreeder.backends.lmql_servers import LMQLServersBackend

        return LMQLServersBackend(spec.identifier, spec.endpoints, client_batch_size=config.client_batch_size,
                                  chunk_size=config.chunk_size, is_async=config.is_async)
    if spec.kind == "lmql":
        return LMQLBackend.from_model_string(spec.identifier, client_batch_size=config.client_batch_size,
                                             chunk_size=config.chunk_size, is_async=config.is_async)
    return LMQLLocalBackend(spec.local_dir(), device=config.device, client_batch_size=config.client_batch_size,
                            server_batch_size=config.server_batch_size, chunk_size=config.chunk_size,
                            is_async=config.is_async, calculate_entropy=config.calculate_entropy)
