"""What a run will cost, predicted from its config before anything is allocated: its peak memory in bytes
and its seconds per step (approximate). The one home of these numbers for a single run: the server
refuses a start or a set over its budget by name (`check_budget`), /api/cost and the page show them.

The peak is the resident memory a session adds to the process (what the OS sees, glibc's retained heap
included), in four parts:

    persistent  model + Adam + the average and the frames' snapshots, fixed samples, uploaded rows, grids
    build       while building: the fixed noise draw (sample_size), the data's moments, p_d on the grids
    step        one training step: the activations of the points in one forward and backward (the whole
                step when it is fused, one chunk when it runs in chunks: models/chunked_steps.py), the
                negatives drawn, CPC's batch_size² scores
    frame       a frame and a gradient comparison, made on snapshots while the next step runs (server/
                render.py): p_d and q on the training grid, G on it, the comparison's per-layer sums

    peak = persistent + max(build, step + frame)

Every term is counted from the shapes the Trainer will make (bytes per activation unit, per point, per
score), with constants measured on CPU, float32 and one torch thread (tests/models/test_cost.py checks the
prediction against measured peaks within 2× across the knob space). A run on a GPU holds its tensors on
the device; the host's share is smaller, so the same bound is conservative there.

Seconds per step: a flop count of the MLP's forward and backward plus an elementwise cost per activation
and per point, at the rates one core of the 2-core reference VM reaches. Approximate (±2×): for a
"~300 steps/s" next to the knobs, not a promise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .chunked_steps import chunk_points, cpc_rows_per_chunk
from .config import ConfigError, RunConfig
from .cpc import EMBEDDING
from .data import CUSTOM, DATA_PRESETS, build_density
from .densities import GaussianMixture
from .methods import METHODS
from .gradients import NR_LADDER
from .kde_budget import MAX_KDE_TERMS
from .samples import MAX_ROWS
from .trainer import (BOX_SAMPLES, GRAD_GRID_2D, MLE_GRIDS_2D, STOP_CHUNK_MLE_POINTS,
                      STOP_CHUNK_POINTS, STOP_CHUNK_TERMS)

MB = 2 ** 20
FLOAT, DOUBLE = 4, 8
FRAME_GRID_2D = 48  # cells per axis of a 2-D frame's arrays (the server's frame_grid_2d at most)

# measured constants (see the module docstring)
ACTIVATION_BYTES = 12       # resident bytes per activation unit (point × hidden unit × layer) of a fused step
CHUNKED_ACTIVATION_BYTES = 24  # ... of a step in chunks: the heap keeps what earlier chunks freed, ~2×
POINT_BYTES = 160           # per point of a step besides the activations: x, log q, h, the loss' terms, the draw
SCORE_BYTES = 4 * 6         # per CPC score (float32): the scores, exp, softmax, their gradients
FRAME_SCORE_BYTES = 4 * 3   # per CPC score of a frame's no-grad batches
PARAMETER_COPIES = 8        # θ, its gradient, Adam's two moments, the average θ̄, two snapshots, a chunk's sum
DENSITY_TERM_BYTES = 40     # per (point × component) term of p_d on a grid (float64 temporaries)
GRID_CELL_BYTES = {1: 40, 2: 60}     # a grid view kept: its points (float64 and float32), log p_d, log q
SESSION_BYTES = 4 * MB      # Python objects, optimizer bookkeeping, the outbox's frames
STATS_SAMPLES = 100_000     # DataStats.of draws these (noise.py) when p_d is not one Gaussian
# noise families: float64 temporaries of sample(n) per drawn coordinate (randn, the affine map, the cast)
DRAW_COPIES = {"gaussian": 3, "laplace": 4, "uniform": 3, "student_t": 8, "mixture": 6}
CV_POINTS = 600             # bandwidth.py's leave-one-out subsample: 600² distances
# seconds per step (one core): a step's fixed overhead, per layer, per point, per activation unit, per flop
STEP_SECONDS = 4e-4
LAYER_SECONDS = 1e-4
POINT_SECONDS = 1.8e-7
UNIT_SECONDS = 2e-9
FLOP_SECONDS = 1 / 1e11
CHUNK_SECONDS = 4e-4
SCORE_SECONDS = 8e-9  # per CPC score: the matmul's share, exp, softmax and their gradients


@dataclass(frozen=True)
class Part:
    """One part of the peak: its bytes, what drives it in words, and the knobs that lower it."""
    bytes: float
    driver: str
    knobs: tuple[str, ...]


@dataclass(frozen=True)
class RunCost:
    """A run's predicted cost. memory_bytes: the peak a session adds (module docstring); seconds_per_step:
    approximate, one core; parts: persistent, build, step, frame; driver and knobs: of the part that
    weighs most in the peak."""
    memory_bytes: float
    seconds_per_step: float
    parts: dict[str, Part]
    driver: str
    knobs: tuple[str, ...]
    time_knobs: tuple[str, ...] = ()  # the knobs that lower seconds_per_step (chunking frees memory, not time)

    def over(self, budget_mb: float, max_step_seconds: Optional[float] = None) -> Optional[str]:
        """The refusal when the peak is over budget_mb (naming what drives it and its knobs), or one step
        is predicted to take longer than max_step_seconds (a step holds one of the room's training slots
        the whole time); else None."""
        if self.memory_bytes > budget_mb * MB:
            return (f"{self.driver} needs ~{human_bytes(self.memory_bytes)}; this server allows "
                    f"{human_bytes(budget_mb * MB)} per session (NCE_SESSION_MEMORY_MB): lower {knob_list(self.knobs)}")
        if max_step_seconds is not None and self.seconds_per_step > max_step_seconds:
            work = self.parts["step"].driver.split(" (in chunks")[0]
            return (f"{work} take ~{self.seconds_per_step:.2g} s per step on one core; this server allows "
                    f"{max_step_seconds:g} s per step (NCE_MAX_STEP_SECONDS), so the room's training slots stay "
                    f"shared: lower {knob_list(self.time_knobs or self.knobs)}")
        return None

    def public(self, budget_mb: Optional[float] = None, max_step_seconds: Optional[float] = None) -> dict:
        """As /api/cost and the config reply carry it."""
        message = self.over(budget_mb, max_step_seconds) if budget_mb is not None else None
        return {"memory_mb": round(self.memory_bytes / MB, 1), "seconds_per_step": self.seconds_per_step,
                "budget_mb": budget_mb, "max_step_seconds": max_step_seconds, "ok": message is None,
                "message": message, "driver": self.driver}


def human_bytes(count: float) -> str:
    """'9 GB', '850 MB', '3.2 MB': two significant figures at least."""
    for unit, size in (("GB", 2 ** 30), ("MB", MB), ("KB", 2 ** 10)):
        if count >= size:
            value = count / size
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{count:.0f} B"


def knob_list(knobs: tuple[str, ...]) -> str:
    """('k', 'batch_size') -> 'k or batch_size'; ('a', 'b', 'c') -> 'a, b or c'."""
    return knobs[0] if len(knobs) == 1 else ", ".join(knobs[:-1]) + " or " + knobs[-1]


TIME_KNOBS = {name: (*method.step_knobs, "batch_size", "hidden", "depth") for name, method in METHODS.items()}


def predict(config: RunConfig, rows: Optional[int] = None, dim: Optional[int] = None) -> RunCost:
    """The cost of `config`; rows and dim: the uploaded data's shape when config.data is 'custom' (without
    them, 2-D data of as many rows as the KDE bound allows at its grid: the worst such an upload costs)."""
    shape = _Shape.of(config, rows, dim)
    persistent = _persistent(config, shape)
    build = _build(config, shape)
    step = _step(config, shape)
    frame = _frame(config, shape)
    running = step.bytes + frame.bytes
    if build.bytes > running:
        peak, heavy = persistent.bytes + build.bytes, [persistent, build]
    else:
        peak, heavy = persistent.bytes + running, [persistent, step, frame]
    top = max(heavy, key=lambda part: part.bytes)
    parts = {"persistent": persistent, "build": build, "step": step, "frame": frame}
    return RunCost(peak, _seconds_per_step(config, shape), parts, top.driver, top.knobs, TIME_KNOBS[config.method])


def check_budget(config: RunConfig, budget_mb: float, rows: Optional[int] = None,
                 dim: Optional[int] = None, max_step_seconds: Optional[float] = None) -> RunCost:
    """The cost of `config`; ConfigError naming the knobs that drive it when its peak is over budget_mb
    or one step is predicted to take longer than max_step_seconds."""
    cost = predict(config, rows, dim)
    message = cost.over(budget_mb, max_step_seconds)
    if message is not None:
        raise ConfigError([message])
    return cost


# ---------------------------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class _Shape:
    """What the cost depends on besides the knobs: the data's dimension, its rows (custom) or its
    mixture components (presets), the network's size."""
    dim: int
    rows: Optional[int]       # uploaded rows (custom data), else None
    components: int           # kernels of p_d: rows for custom data, mixture components of a preset
    units: int                # activation units per point: hidden × depth (CPC: of one of its two nets)
    flops: int                # multiply-adds × 2 of one forward per point
    layers: int               # linear layers of one forward
    parameters: int

    @classmethod
    def of(cls, config: RunConfig, rows: Optional[int], dim: Optional[int]) -> "_Shape":
        h, depth = config.hidden, config.depth
        if METHODS[config.method].pairs:  # two embedding nets of 1 input and EMBEDDING outputs; 2B points a step
            one = h + h + (depth - 1) * (h * h + h) + h * EMBEDDING + EMBEDDING
            flops = 2 * (h + (depth - 1) * h * h + h * EMBEDDING)
            return cls(2, None, 1, h * depth, flops, 2 * (depth + 1), 2 * one)
        if config.data == CUSTOM:  # without its shape: the largest upload the KDE bound allows at this grid
            data_dim = dim or 2
            count = rows if rows is not None else max(1, min(MAX_ROWS, MAX_KDE_TERMS // config.grid ** data_dim))
            kernels = count
        else:
            data_dim, count = DATA_PRESETS[config.data].dim, None
            kernels = _components(config.data)
        if config.model == "gaussian":
            return cls(data_dim, count, kernels, 4 * data_dim, 8 * data_dim, 1, 2 * data_dim + 1)
        parameters = data_dim * h + h + (depth - 1) * (h * h + h) + h + 1 + 1
        flops = 2 * (data_dim * h + (depth - 1) * h * h + h)
        return cls(data_dim, count, kernels, h * depth, flops, depth + 1, parameters)


@lru_cache(maxsize=None)
def _components(data: str) -> int:
    """Mixture components of a preset's p_d (cheap: its parameters only); 8 for the other shapes (checkerboard's
    squares, pinwheel's arms), 1 for a single density."""
    if data in ("gaussian", "laplace", "skewed", "correlated_gaussian"):
        return 1
    density = build_density(data, 1.0)
    return density.means.shape[0] if isinstance(density, GaussianMixture) else 8


def _cells(shape: _Shape, n: int) -> int:
    return n ** shape.dim


def _mle_cells(config: RunConfig, shape: _Shape) -> int:
    n = min(config.grid, MLE_GRIDS_2D.get(config.data, config.grid)) if shape.dim == 2 else config.grid
    return _cells(shape, n)


def _frame_resolutions(config: RunConfig, shape: _Shape) -> set[int]:
    """Grids a session keeps: the frames' arrays, the gradient comparison's and divergence check's, MLE's."""
    if shape.dim == 1:
        return {config.grid}
    sizes = {min(config.grid, FRAME_GRID_2D), min(config.grid, GRAD_GRID_2D)}
    if METHODS[config.method].integrates_log_z:
        sizes.add(min(config.grid, MLE_GRIDS_2D.get(config.data, config.grid)))
    return sizes


def _density_piece_bytes(shape: _Shape, cells: int) -> float:
    """Temporaries of p_d on `cells` grid cells, evaluated in pieces of STOP_CHUNK_TERMS terms (trainer)."""
    per_piece = max(1, STOP_CHUNK_TERMS // (shape.rows if shape.rows is not None else 64))
    return min(cells, per_piece) * shape.components * DENSITY_TERM_BYTES


# ---------------------------------------------------------------------------------------------- parts
def _persistent(config: RunConfig, shape: _Shape) -> Part:
    model = shape.parameters * FLOAT * PARAMETER_COPIES
    fixed_data = fixed_noise = 0
    if config.sample_size is not None and not METHODS[config.method].pairs:
        fixed_data = config.sample_size * shape.dim * FLOAT
        fixed_noise = _fixed_count(config) * shape.dim * FLOAT
    elif config.sample_size is not None:
        fixed_data = config.sample_size * shape.dim * FLOAT
    has_density = METHODS[config.method].has_density  # a critic of pairs keeps no grids nor uploaded rows
    uploaded = (shape.rows or 0) * shape.dim * (DOUBLE * 3 + FLOAT) if has_density else 0
    grids = 0 if not has_density else sum(_cells(shape, n) * GRID_CELL_BYTES[shape.dim]
                                                   for n in _frame_resolutions(config, shape))
    total = SESSION_BYTES + model + fixed_data + fixed_noise + uploaded + grids
    parts = [(model, f"a {config.hidden}-wide, {config.depth}-deep model ({shape.parameters:,} parameters)",
              ("hidden", "depth")),
             (fixed_noise, f"a fixed sample of {fixed_noise // max(1, shape.dim * FLOAT):,} noise points "
                           f"({_fixed_noise_words(config)})", ("sample_size", _noise_knob(config))),
             (uploaded, f"the {shape.rows or 0:,} uploaded rows", ("data_file",)),
             (grids, f"the grids of {config.grid} cells per axis", ("grid",))]
    _, driver, knobs = max(parts, key=lambda p: p[0])
    return Part(total, driver, knobs)


def _build(config: RunConfig, shape: _Shape) -> Part:
    """Transients of building: the fixed noise draw, the data's moments, p_d on the session's grids."""
    stats = 0 if config.data in ("gaussian", "correlated_gaussian") or METHODS[config.method].pairs \
        else STATS_SAMPLES * shape.dim * DOUBLE * 5
    box = BOX_SAMPLES * shape.dim * DOUBLE * 5 if config.data != CUSTOM else 0
    bandwidth = min(shape.rows, CV_POINTS) ** 2 * DOUBLE * 4 if shape.rows else 0
    drawn = 0
    if config.sample_size is not None and METHODS[config.method].uses_noise:
        count = _fixed_count(config)
        drawn = count * shape.dim * DOUBLE * DRAW_COPIES[config.noise]
    density = 0 if METHODS[config.method].pairs else max(_density_piece_bytes(shape, _cells(shape, n))
                                                   for n in _frame_resolutions(config, shape))
    total = max(stats + box + bandwidth, drawn, density)
    if drawn >= density:
        knobs = ("sample_size", _noise_knob(config)) + (("noise",) if DRAW_COPIES[config.noise] > 3 else ())
        return Part(total, f"drawing a fixed sample of {_fixed_count(config):,} noise points "
                           f"({_fixed_noise_words(config)}, {config.noise} noise)", knobs)
    return Part(total, f"p_d of the data on the grid ({config.grid} cells per axis)", ("grid", "data_file")
                if config.data == CUSTOM else ("grid",))


def _step(config: RunConfig, shape: _Shape) -> Part:
    chunk = chunk_points(config.model, config.hidden, config.depth)
    batch = config.batch_size
    model_knobs = ("batch_size", "hidden", "depth")
    if METHODS[config.method].pairs:  # the two embeddings' graphs, and the scores: all B², or a chunk of rows
        scores = cpc_rows_per_chunk(batch) * batch * SCORE_BYTES
        activations = 2 * batch * (shape.units * ACTIVATION_BYTES + POINT_BYTES)
        return Part(scores + activations, f"batch_size² = {batch * batch:,} pair scores per step at hidden "
                                          f"{config.hidden} × depth {config.depth}", ("batch_size", "hidden", "depth"))
    if METHODS[config.method].integrates_log_z:
        cells = _mle_cells(config, shape)
        fused = cells <= min(STOP_CHUNK_POINTS, chunk)
        points = batch + cells if fused else max(batch, STOP_CHUNK_MLE_POINTS)
        per_unit = ACTIVATION_BYTES if fused else CHUNKED_ACTIVATION_BYTES
        return Part(points * (shape.units * per_unit + POINT_BYTES),
                    f"MLE's log Z over {cells:,} grid cells per step at hidden {config.hidden} × depth {config.depth}",
                    ("grid", "hidden", "depth"))
    negatives = _negatives(config)
    total = batch + negatives
    draws = 0 if config.sample_size is not None else DRAW_COPIES[config.noise] * shape.dim * DOUBLE
    if total <= chunk:  # the fused step: every point's graph at once
        per_point = shape.units * ACTIVATION_BYTES + POINT_BYTES + draws
        in_flight, per_unit = total, ACTIVATION_BYTES
    else:
        in_flight = chunk if not METHODS[config.method].uses_k else max(1, chunk // (1 + config.k)) * (1 + config.k)
        per_point = shape.units * CHUNKED_ACTIVATION_BYTES + POINT_BYTES + draws
    words = (f"k × batch_size = {negatives:,} negatives per step" if METHODS[config.method].uses_k
             else f"N_r × batch_size = {negatives:,} noise points per step")
    knobs = ("k", "batch_size", "hidden", "depth") if METHODS[config.method].uses_k else ("nr", *model_knobs)
    if total > chunk:
        words += f" (in chunks of {in_flight:,} points)"
        knobs = ("hidden", "depth")
    rows_index = negatives * DOUBLE if config.sample_size is not None else 0
    return Part(in_flight * per_point + rows_index, words, knobs)


def _frame(config: RunConfig, shape: _Shape) -> Part:
    """A frame and a gradient comparison at once (they run on two pools, beside the step)."""
    if METHODS[config.method].pairs:
        batch = config.batch_size
        return Part(cpc_rows_per_chunk(batch) * batch * FRAME_SCORE_BYTES + 2 * batch * config.hidden * FLOAT * 3,
                    f"batch_size² = {batch * batch:,} pair scores per frame", ("batch_size",))
    cells = _cells(shape, config.grid)
    chunk = min(STOP_CHUNK_POINTS, chunk_points(config.model, config.hidden, config.depth))
    # the training grid's p_d and q, made again on each frame's snapshot, G on it in pieces, and its scalars
    density = (_density_piece_bytes(shape, cells) + cells * (GRID_CELL_BYTES[shape.dim] + 6 * DOUBLE)
               + min(cells, chunk) * config.hidden * FLOAT * 2)  # no graph: a layer's input and output
    grad_cells = cells if shape.dim == 1 else min(config.grid, GRAD_GRID_2D) ** 2
    width = DOUBLE if shape.dim == 1 else FLOAT
    rows = len(NR_LADDER) + 2  # MLE, the ladder, the current N_r
    comparison = (grad_cells * (shape.units * 3 + config.hidden * rows) * width  # layers kept, one layer's sum
                  + grad_cells * (rows * 4 + config.hidden * 2) * DOUBLE          # cotangents, G in float64
                  + rows * shape.parameters * (2 * width + DOUBLE))               # the per-row gradients
    if config.model == "gaussian":
        comparison = grad_cells * rows * DOUBLE * 8
    return Part(density + comparison, f"frames on {cells:,} grid cells at hidden {config.hidden} × depth "
                                      f"{config.depth}", ("grid", "hidden", "depth"))


def _seconds_per_step(config: RunConfig, shape: _Shape) -> float:
    batch = config.batch_size
    if METHODS[config.method].pairs:
        points = 2 * batch
        extra = batch * batch * SCORE_SECONDS
    elif METHODS[config.method].integrates_log_z:
        points, extra = batch + _mle_cells(config, shape), 0.0
    else:
        points, extra = batch + _negatives(config), 0.0
    chunk = chunk_points(config.model, config.hidden, config.depth)
    chunks = math.ceil(points / chunk) if points > chunk else 0
    return (STEP_SECONDS + LAYER_SECONDS * shape.layers + chunks * CHUNK_SECONDS + extra
            + points * (POINT_SECONDS + shape.units * UNIT_SECONDS + 3 * shape.flops * FLOP_SECONDS))


def _negatives(config: RunConfig) -> int:
    """Noise points one step draws (the method's own count, as the Trainer draws them)."""
    return METHODS[config.method].negatives(config)


def _fixed_count(config: RunConfig) -> int:
    return METHODS[config.method].fixed_noise_count(config.sample_size or 0, config.nr, config.k)


def _fixed_noise_words(config: RunConfig) -> str:
    return "k × sample_size" if METHODS[config.method].uses_k else "N_r × sample_size"


def _noise_knob(config: RunConfig) -> str:
    return METHODS[config.method].fixed_noise_knob or "nr"
