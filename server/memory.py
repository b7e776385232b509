"""Give the memory a finished session freed back to the operating system.

glibc's malloc keeps freed memory inside its arenas (one per thread that allocated, up to 8 per
core) for reuse, so a server that has served many sessions stays at its peak resident size long
after they have all ended (bench/memory_storm.py measures it). glibc's `malloc_trim(0)` walks every
arena and hands each whole free page back with madvise(MADV_DONTNEED), not only the top of the heap.

Linux with glibc only: elsewhere (macOS, Windows, musl) `release_freed_memory` does nothing.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from typing import Callable, Optional

ENABLED = True  # bench/memory_storm.py turns it off to measure a server without it


def _find_malloc_trim() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process (its C library's)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc has it; musl does not
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()
_trimming = threading.Lock()
_wanted = False  # a call came while another thread was trimming: that thread trims once more


def release_freed_memory() -> bool:
    """malloc_trim(0): return every free page of every malloc arena to the OS. True when some memory
    was released; False when none was, when another thread's trim will cover it, or where there is
    no glibc (a no-op). It can take a few hundred ms with a large heap (the GIL is released, the
    arenas are locked one at a time), so call it off the event loop. Calls that come while one trim
    runs do not queue up: the running one goes round once more."""
    global _wanted
    if not ENABLED or _malloc_trim is None:
        return False
    _wanted, released = True, False
    while _wanted and _trimming.acquire(blocking=False):
        try:
            _wanted = False
            released = bool(_malloc_trim(0)) or released
        finally:
            _trimming.release()
    return released
