"""Shared by the sandbox tests: which processes are still alive, seen from the host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def running(marker: str, wait_s: float = 3.0) -> list[int]:
    """Host pids of live (not zombie) processes whose command line holds `marker`, after up to `wait_s`
    for them to go: a sandbox's processes have other pids inside its PID namespace."""
    end = time.monotonic() + wait_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes() \
                        and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    found.append(int(entry.name))
            except OSError:
                continue
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.05)


@pytest.fixture
def alive():
    """`alive(marker) -> [pid, ...]`: see `running`."""
    return running
