"""release_free_memory: on glibc, freed heap goes back to the OS."""

from __future__ import annotations

import pytest

from actors.session import memory
from actors.session.memory import release_free_memory

pytestmark = pytest.mark.unit


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(line for line in fh if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(memory._libc is None, reason="needs glibc's malloc_trim (Linux)")
def test_freed_heap_goes_back_to_the_machine():
    blocks = [bytes(1000) for _ in range(80_000)]  # ~80 MB of malloc'd (not pymalloc) blocks
    pin = bytes(1000)  # allocated last: the freed blocks are not at the top of the heap
    del blocks  # freed by reference counting; glibc keeps the pages
    held = _rss_mb()
    assert release_free_memory() is True
    assert held - _rss_mb() > 40, "the freed blocks should have left the process"
    del pin


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_libc", None)
    assert release_free_memory() is False
