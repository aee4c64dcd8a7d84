"""The engine's long-lived heap: freed tensor memory back to the OS, loaded objects out of the collector's way.

A run's batches differ in rows and lengths, so their key/value buffers and activations differ in size
every call. glibc's malloc keeps what such tensors free inside its heaps for reuse: in a 10-generation
CoT run on the embedded model, resident memory grew 7% from generation 2 to 8 while the prefix cache
(full at its 1 GiB from generation 1) and the count of Python objects stayed level, and `malloc_trim`
at the end of each generation gave 190-480 MiB back, more as the run went on. The engine asks glibc
to return free pages now and then; elsewhere (another C library, another OS) nothing is done.

Python's own collector is the other cost of a large, long-lived heap: once the libraries and a model
are loaded, a full collection walks every object they hold (0.33-0.36 s on the embedded model, about once
per 32-query chat batch, on the main thread that interprets LMQL), though none of them ever
becomes garbage. `freeze_loaded_objects` puts what is alive after loading out of its reach.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import time
from typing import Callable


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only: musl and others have no such function
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def freeze_loaded_objects() -> int:
    """Collect what is garbage now, then move every object the collector still tracks into its permanent
    generation (`gc.freeze`), so later full collections walk only what was made after loading; the count
    frozen. What survives a collection at load time (modules, weights, tokenizers) lives as long as the
    process, and a cycle frozen then would never be collected: so collect first, and call this when a
    model has been loaded, not in a loop."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class HeapTrimmer:
    """Calls glibc's `malloc_trim(0)` at most once every `every_seconds` (it walks the whole heap:
    milliseconds for a model's heap, too much after every batch of a fast model)."""

    def __init__(self, every_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 trim: Callable[[int], int] | None | bool = True):
        self.every_seconds = every_seconds
        self.clock = clock
        self._trim = _glibc_malloc_trim() if trim is True else (trim or None)
        self._last = clock()
        self.trims = 0

    @property
    def available(self) -> bool:
        return self._trim is not None

    def maybe_trim(self) -> bool:
        """Trim if the interval has passed since the last trim; whether it did."""
        if self._trim is None or self.clock() - self._last < self.every_seconds:
            return False
        self._trim(0)
        self._last = self.clock()
        self.trims += 1
        return True
