"""HeapTrimmer: freed heap memory goes back to the OS, at most once per interval; objects alive after
loading leave the collector's generations."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

from promptbreeder.backends.hf.heap import HeapTrimmer, freeze_loaded_objects


def test_trims_at_most_once_per_interval():
    now = [0.0]
    calls = []
    trimmer = HeapTrimmer(every_seconds=10.0, clock=lambda: now[0], trim=lambda pad: calls.append(pad) or 1)
    assert not trimmer.maybe_trim()  # the interval starts when the trimmer is made
    now[0] = 9.9
    assert not trimmer.maybe_trim()
    now[0] = 10.0
    assert trimmer.maybe_trim()
    now[0] = 15.0
    assert not trimmer.maybe_trim()
    now[0] = 20.5
    assert trimmer.maybe_trim()
    assert calls == [0, 0] and trimmer.trims == 2


def test_without_malloc_trim_nothing_happens():
    trimmer = HeapTrimmer(every_seconds=0.0, trim=False)
    assert not trimmer.available
    assert not trimmer.maybe_trim()


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_os():
    trimmer = HeapTrimmer(every_seconds=0.0)
    assert trimmer.available  # glibc here, as on the machines we support
    # 100 KB blocks come from the heap (below malloc's mmap threshold); the last one pins the heap's
    # top, so freeing the others leaves ~200 MB of free but resident pages inside the heap
    blocks = [bytearray(b"x" * 100_000) for _ in range(2_000)]
    pinned = blocks.pop()
    blocks.clear()
    before = _rss_mib()
    assert trimmer.maybe_trim()
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert len(pinned) == 100_000


def test_objects_alive_at_loading_leave_the_collectors_generations():
    loaded = [{"weights": i} for i in range(3)]  # containers: tracked by the collector
    assert any(o is loaded for o in gc.get_objects())
    cycle = [None]
    cycle[0] = cycle
    collected = weakref.finalize(Node(cycle), lambda: None)
    cycle = None  # garbage now, but only the collector can free it
    try:
        frozen = freeze_loaded_objects()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(o is loaded for o in gc.get_objects())  # a full collection no longer walks it
        made_later = [{}]
        assert any(o is made_later for o in gc.get_objects())  # what a run makes afterwards is still collected
        assert not collected.alive  # garbage at loading was collected first, not frozen for good
    finally:
        gc.unfreeze()  # the rest of the test session keeps its ordinary collector


class Node:
    """Holds a reference cycle, so it is freed only by the collector (a weakref finalizer can watch it)."""

    def __init__(self, cycle):
        self.cycle = cycle
        cycle.append(self)
