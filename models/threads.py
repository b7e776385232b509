"""The thread policy: one torch intra-op thread per training loop unless told otherwise.

These models are tiny (a 64-wide MLP on a few thousand points): extra intra-op threads gain little
on an idle machine and lose many times over when another process wants the cores, because torch's
threads then wait on each other. The CLI's --threads and the environment variable
NCE_TORCH_THREADS opt in to more (the server reads the same variable for its sessions).
"""
from __future__ import annotations

import os

import torch

THREADS_ENV = "NCE_TORCH_THREADS"


def default_threads() -> int:
    """NCE_TORCH_THREADS when set to a positive integer, else 1."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{THREADS_ENV}: must be a positive integer (got {raw!r})") from None
        if value < 1:
            raise ValueError(f"{THREADS_ENV}: must be a positive integer (got {raw!r})")
        return value
    return 1


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for this thread (OpenMP keeps the setting per thread) and return it."""
    threads = default_threads() if threads is None else threads
    torch.set_num_threads(threads)
    return threads
