"""Giving a session host's freed memory back to the machine.

After start-up (imports, the first deployment calls) and after each turn (frames, fragments),
most of what a session allocated is free again, but glibc keeps freed heap pages mapped; with
many sessions per node those pages add up. ``release_free_memory`` asks glibc to return what it
can (``malloc_trim``); elsewhere it does nothing.

It touches no Python object, so it may run in a worker thread. (A ``gc.collect()`` there would
run finalizers, some of which cancel Serve requests, off the event loop.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["release_free_memory"]

_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        _libc = None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True if glibc gave any back."""
    return bool(_libc is not None and _libc.malloc_trim(0))
