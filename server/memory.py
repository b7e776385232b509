"""Give the memory a finished session freed back to the operating system.

glibc's malloc keeps freed memory inside its arenas (one per thread that allocated, up to 8 per
core) for reuse, so a server that has served many sessions stays at its peak resident size long
after they have all ended (bench/memory_storm.py measures it). glibc's `malloc_trim(0)` walks every
arena and hands each whole free page back with madvise(MADV_DONTNEED), not only the top of the heap.

Linux with glibc only: elsewhere (macOS, Windows, musl) `release_freed_memory` does nothing.
"""
from __future__ import annotations

import ctypes
import os
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


# ------------------------------------------------------------------ will the budgets fit this machine?
PROCESS_MB = 512  # the server itself: Python, torch, the page's assets, the render pools


def machine_memory_mb() -> Optional[float]:
    """Physical memory of this machine (or None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 20
    except (ValueError, OSError, AttributeError):
        return None


def worst_case_mb(settings) -> float:
    """What the server may hold when every session and sweep uses its whole budget at once:
    max_sessions × session_memory_mb + sweep_slots × sweep_memory_mb + the process itself."""
    return (settings.max_sessions * settings.session_memory_mb + settings.sweep_slots * settings.sweep_memory_mb
            + PROCESS_MB)


def capacity_warning(settings, machine_mb: Optional[float] = None) -> Optional[str]:
    """A warning when the budgets add up to more than the machine has (budgets then bound each session,
    not the server: enough heavy students at once could still exhaust memory); None when they fit."""
    machine_mb = machine_mb if machine_mb is not None else machine_memory_mb()
    worst = worst_case_mb(settings)
    if machine_mb is None or worst <= machine_mb:
        return None
    fits = max(1, int((machine_mb - PROCESS_MB - settings.sweep_slots * settings.sweep_memory_mb)
                      // settings.session_memory_mb))
    return (f"NCE_MAX_SESSIONS={settings.max_sessions} × NCE_SESSION_MEMORY_MB={settings.session_memory_mb} "
            f"+ NCE_SWEEP_SLOTS={settings.sweep_slots} × NCE_SWEEP_MEMORY_MB={settings.sweep_memory_mb} may need "
            f"{worst / 1024:.1f} GB; this machine has {machine_mb / 1024:.1f} GB. Lower NCE_SESSION_MEMORY_MB or "
            f"NCE_MAX_SESSIONS (about {fits} sessions fit at this budget)")
