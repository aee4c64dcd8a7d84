"""Durable file writes: a file is either the old version or the new one, never half of either."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` via a synced temporary file renamed over it (and sync the folder)."""
    _write_atomic(path, lambda out: out.write(text.encode("utf-8")))


def write_npz_atomic(path: str | Path, **arrays: Any) -> None:
    """Numpy arrays, compressed, to `path` (an .npz) as atomically as `write_atomic`."""
    import numpy as np  # only the writers of arrays need it

    _write_atomic(path, lambda out: np.savez_compressed(out, **arrays))


def _write_atomic(path: str | Path, write: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def append_line(path: str | Path, line: str) -> None:
    """Append one line and sync it: a crash loses at most the line being written."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(line.rstrip("\n") + "\n")
        out.flush()
        os.fsync(out.fileno())


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
