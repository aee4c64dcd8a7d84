"""Shared fixtures. `real_backend` loads the embedded model once per test session (integration tests)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def real_model_dir():
    from promptbreeder.backends.models import resolve_model

    return resolve_model("smollm2-135m").local_dir()


@pytest.fixture(scope="session")
def real_backend(real_model_dir):
    from promptbreeder.backends.lmql_local import LMQLLocalBackend

    backend = LMQLLocalBackend(real_model_dir, device="cpu", client_batch_size=8, server_batch_size=8, chunk_size=16)
    yield backend
    backend.close()
