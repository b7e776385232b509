"""What frames are made of, and snapshots to make them off the training thread.

A 1-D frame costs ~3 ms and its gradient comparison ~5 ms, mostly Python dispatch of small
tensors: the worker makes them itself between steps. A 2-D frame costs 10-20 ms and a 2-D
comparison 20-40 ms, mostly big kernels that release the GIL: the worker takes a snapshot (a
parameter copy) and a shared pool makes them on another core while training goes on. Either way
the Trainer itself is only ever touched by its worker thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


from models import frames
from models.trainer import Trainer


class Snapshots:
    """One session's snapshots (Trainer.snapshot) that frame() and gradient_frame() run on in other
    threads. One job of a kind is in flight at a time, so each kind keeps its last snapshot and the
    next one overwrites its parameters instead of deep-copying the model."""

    def __init__(self):
        self._last: dict[str, Trainer] = {}

    def take(self, trainer: Trainer, kind: str) -> Trainer:
        snapshot = trainer.snapshot(reuse=self._last.get(kind))
        self._last[kind] = snapshot
        return snapshot


def frame_resolution(trainer: Trainer, max_2d: int) -> int:
    return trainer.config.grid if trainer.dim == 1 else min(trainer.config.grid, max_2d)


def gradient_resolution(trainer: Trainer) -> int:
    """The grid Trainer.gradient_frame() uses (so the worker can prepare it before snapshots)."""
    return frames.gradient_resolution(trainer)


def prepare_views(trainer: Trainer, max_2d: int) -> None:
    """Evaluate p_d and q on every grid frames will ask for, on the worker thread, so snapshots
    carry them instead of each recomputing them."""
    # the training grid too: every frame's scalars (log Z, KL, coverage) are taken on it
    for n in (trainer.config.grid, frame_resolution(trainer, max_2d), gradient_resolution(trainer)):
        trainer.view(n)


@dataclass(frozen=True)
class FrameSpec:
    """What one frame should carry, decided by the worker when it takes the snapshot."""
    config_rev: int
    state: str
    resolution: int
    with_static: bool
    with_arrays: bool
    grad: Optional[dict]  # a fresh comparison to send, or None
    grad_scalars: tuple  # (cos, norm_ratio) at the current nr, from the latest valid comparison
