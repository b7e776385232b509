"""Cooperative cancellation: `Stopped`, and how much heavy work runs between two looks at `stop`.

Heavy work (a step, a grid's log p_d, a frame) takes a `stop` callable from its caller and raises
Stopped within ~0.5 s of it turning True. The sizes below are read at call time (module attributes),
so a test can shrink them.
"""
from __future__ import annotations


class Stopped(Exception):
    """Raised inside heavy work when the Trainer's `stop` callable says its caller has gone."""


# density terms (points × components) per piece of log p_d on a grid, with a look at `stop` between pieces
# (~30 ms each). Pieces of 2e6 terms made (piece, rows, 2) float64 temporaries of 32 MB, just under glibc's
# largest mmap threshold: freed into the heap, they left 250-750 MB resident after one 2-D upload at grid
# 512; pieces of 2.5e5 leave ~25 MB, no slower (models/cost.py counts what remains).
STOP_CHUNK_TERMS = 250_000
STOP_CHUNK_POINTS = 16_384   # model evaluations between two looks at `stop` in a frame (all of a 128² grid)
# MLE's log Z on a grid of more than STOP_CHUNK_POINTS cells (custom data up to 512²) runs in chunks of this
# many cells, forward and backward, with a look at `stop` between them: ~0.6 s per chunk at hidden 256,
# depth 4 on a loaded VM (one fused pass over 512² cells took 41 s). Smaller grids keep the fused pass.
STOP_CHUNK_MLE_POINTS = 4_096
# NCE's and InfoNCE's step over more points than chunked_steps.chunk_points (16,384 at the defaults' width,
# 4,096 at hidden 256, depth 4) runs in chunks of that many, forward and backward, with a look at `stop`
# between them and the negatives drawn chunk by chunk: InfoNCE's k · batch_size negatives reach 4,194,304
# (one fused pass grew to 24 GB). Smaller steps (every default) keep the fused pass. CPC's B × B scores go
# in chunks of rows past chunked_steps.CPC_CHUNK_SCORES (batch_size > 1,024).
