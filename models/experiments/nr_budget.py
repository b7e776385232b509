"""`nr_budget`: what N_r buys on a real model, and what it costs.

The MLP energy of a live run, fitted by NCE to a fixed sample (T_d data points and round(N_r·T_d)
noise points per seed) with the same Adam steps for every model; `reps` seeds per N_r train at once
(BatchedTrainer: model r is Trainer(config, seed = seed + r)). Measured per N_r: the final
KL(p_d ‖ p_θ) and |log Ẑ − log Z| (quadrature on the grid), with their spread over seeds, and the
seconds one step of the batch of models took. No closed-form theory: this is the trade-off a user
faces, measured. A model that diverges (divergence.py's rules, as a live run: BatchedTrainer) is
counted in `failed` and `diverged` and left out of its point's statistics, and the point says so.

Memory: the seeds train in groups whose fixed samples fit GROUP_BYTES (one model at least), each
group as one BatchedTrainer, which chunks its steps and its evaluation over models and grid cells.

Any run knob (hidden, depth, lr, batch_size, noise, noise_scale, grid, ...) may be given; they are
checked exactly as a run's config is.
"""
from __future__ import annotations

import time
from typing import Annotated, Iterator, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..batched import EVAL_CELLS, BatchedTrainer, chunk_points, models_per_chunk
from ..config import ConfigError, RunConfig, parse_config
from ..data import CUSTOM, DATA_PRESETS
from ..divergence import likely_cause
from ..fixed_sample import fixed_noise_count
from ..trainer import STOP_CHUNK_TERMS, Stopped, Trainer
from .common import (MB, NCE_DIVERGENCE, Phase, SweepCancelled, SweepContext, SweepCost, distinct, left_out_note,
                     mean_ci)

MAX_POINT_STEPS = 20_000_000_000  # models × steps × (data + noise points per step) a sweep may take
SWEEP_KNOBS = {"experiment", "reps", "nr"}  # the rest of the config is a run's knobs
GROUP_BYTES = 256 * MB  # fixed samples and one step's minibatches of the models that train at once
# the cost model (cost()), measured with tests/models/experiments/test_sweep_cost.py's harness on the 2-core VM
ACTIVATION_BYTES = 10     # per point, hidden unit and layer of a chunk: the saved pre- and post-SiLU (float32)
GRADIENT_BYTES = 8        # per point and hidden unit: the backward's two gradients in flight
CELL_BYTES = 64           # per grid cell: the view (points, log p_d, log q) and evaluate()'s float64 rows
TERM_BYTES = 48           # per density term (cell × component) of a chunk of the view's log p_d (the Trainer's)
PARAM_COPIES = 8          # each model's parameters: its Trainer's model and average, the stack's θ, grad,
                          # Adam's two moments, θ̄ and a temporary
SECONDS_PER_STEP = 2e-3         # one core: a batched step's Python and small kernels
SECONDS_PER_MODEL_STEP = 3e-4   # one core: each model's share of them
SECONDS_PER_POINT_UNIT = 1.2e-8  # one core, per point × hidden × (hidden·(depth−1) + 2d + 8) / 64, fwd and bwd
SECONDS_PER_BUILD = 0.05        # one core: one model's Trainer
SECONDS_PER_CELL = 1.2e-5       # one core: a group's evaluation, per grid cell (log p_d and G)
STEP_PERIOD_S = 0.1       # progress reports about this often (a cancel is heard every step regardless)


class NrBudgetConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    experiment: Literal["nr_budget"] = "nr_budget"
    reps: int = Field(4, ge=1, le=64, description="Seeds per N_r (trained at once).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the first model; model r has seed + r.")
    nr: list[Annotated[float, Field(ge=0.1, le=1000.0)]] = Field([0.1, 0.3, 1.0, 3.0, 10.0, 30.0], min_length=1, max_length=12,
                            description="The N_r values (0.1 to 1000).")
    data: str = Field("bimodal", description="A data preset (not 'custom', not the CPC pairs).")
    sample_size: int = Field(512, ge=16, le=100_000, description="T_d: the fixed data sample per seed.")
    steps: int = Field(1000, ge=1, le=100_000, description="Adam steps per model: 1000 fit bimodal's 512 points.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="after")
    def _as_runs(self) -> "NrBudgetConfig":
        distinct("nr", self.nr)
        if self.data == CUSTOM:
            raise ValueError("data: a sweep needs a preset ('custom' data is for live runs)")
        run_knobs = {**(self.model_extra or {}), "data": self.data, "sample_size": self.sample_size,
                     "steps": self.steps, "device": self.device, "seed": self.seed}
        if run_knobs.get("method", "nce") != "nce":
            raise ValueError(f"method: nr_budget trains NCE (got {run_knobs['method']!r})")
        if run_knobs.get("model", "mlp") != "mlp":
            raise ValueError(f"model: nr_budget trains the MLP (got {run_knobs['model']!r})")
        try:
            configs = [parse_config({**run_knobs, "method": "nce", "nr": value}) for value in self.nr]
        except ConfigError as error:
            raise ValueError("; ".join(error.errors)) from None
        work = self.reps * self.steps * sum(c.batch_size + Trainer.negatives_for(c) for c in configs)
        if work > MAX_POINT_STEPS:
            raise ValueError(f"steps: this sweep would take {work:,} point-steps; the limit is {MAX_POINT_STEPS:,} "
                             "(fewer steps, reps, smaller nr or batch_size)")
        return self

    def run_config(self, nr: float) -> RunConfig:
        """The config of the models at this N_r (seed: the first model's)."""
        knobs = {**(self.model_extra or {}), "data": self.data, "sample_size": self.sample_size,
                 "steps": self.steps, "device": self.device, "seed": self.seed, "method": "nce", "nr": nr}
        return parse_config(knobs)


def total_models(cfg: NrBudgetConfig) -> int:
    return cfg.reps * len(cfg.nr)


def _parameters(run: RunConfig, dim: int) -> int:
    """The MLP's parameters: d → hidden, (depth − 1) × hidden → hidden, hidden → 1."""
    return (dim + 1) * run.hidden + (run.depth - 1) * (run.hidden + 1) * run.hidden + run.hidden + 1


def _model_bytes(run: RunConfig, dim: int) -> tuple[float, float]:
    """(fixed samples, one step's minibatch) bytes of one model: its data and noise points twice
    (the Trainer's and the stack's, float32) with their log q; the gathered points, log q and indices."""
    fixed = (run.sample_size + fixed_noise_count("nce", run.sample_size, run.nr, run.k)) * (8 * dim + 4)
    minibatch = (run.batch_size + Trainer.negatives_for(run)) * (8 * dim + 24)
    return fixed, minibatch


def group_size(cfg: NrBudgetConfig, run: RunConfig) -> int:
    """Seeds that train at once at this N_r: as many as GROUP_BYTES holds (one at least)."""
    fixed, minibatch = _model_bytes(run, DATA_PRESETS[cfg.data].dim)
    return max(1, min(cfg.reps, int(GROUP_BYTES // (fixed + minibatch))))


def cost(cfg: NrBudgetConfig, device_type: str = "cpu") -> SweepCost:
    """Peak memory: one group's fixed samples, minibatch and parameters with one chunk's activations (one
    model's step at least), or its evaluation on the grid. Seconds: model-steps and their points."""
    dim = DATA_PRESETS[cfg.data].dim
    phases, seconds = [], 0.0
    for nr in cfg.nr:
        run = cfg.run_config(nr)
        fixed, minibatch = _model_bytes(run, dim)
        group = group_size(cfg, run)
        points = run.batch_size + Trainer.negatives_for(run)
        limit = chunk_points(run.hidden, device_type)  # a model's step over it goes in pieces of points
        per_chunk = models_per_chunk(points, run.hidden, group, device_type) * points if points <= limit else limit
        activations = per_chunk * run.hidden * (run.depth * ACTIVATION_BYTES + GRADIENT_BYTES)
        held = group * (fixed + minibatch + _parameters(run, dim) * 4 * PARAM_COPIES)
        phases.append(Phase(held + activations, f"reps × (sample_size + round(nr × sample_size)) points of the "
                            f"fixed samples and batch_size × (1 + nr) of a step, for {group} models trained at once "
                            f"(N_r = {nr:g})", ("reps", "sample_size", "nr", "batch_size")))
        cells = run.grid ** dim
        models = max(1, min(group, EVAL_CELLS // cells))
        log_pd_terms = min(cells * 64, STOP_CHUNK_TERMS)  # a chunk of the Trainer's log p_d (64 components a cell)
        phases.append(Phase(held + cells * CELL_BYTES + log_pd_terms * TERM_BYTES + models * cells * 8 * 4
                            + chunk_points(run.hidden, device_type) * run.hidden * ACTIVATION_BYTES,
                            f"grid^{dim} = {cells:,} cells of the evaluation (N_r = {nr:g})", ("grid",)))
        groups = -(-cfg.reps // group)
        seconds += cfg.steps * groups * SECONDS_PER_STEP + cfg.steps * cfg.reps * (
            SECONDS_PER_MODEL_STEP + SECONDS_PER_POINT_UNIT * points * run.hidden
            * (run.hidden * (run.depth - 1) + 2 * dim + 8) / 64)
        seconds += cfg.reps * SECONDS_PER_BUILD + groups * cells * SECONDS_PER_CELL
    return SweepCost.of(phases, seconds, total_models(cfg) * cfg.steps,
                        f"reps × len(nr) × steps = {cfg.reps} × {len(cfg.nr)} × {cfg.steps:,}",
                        ("reps", "nr", "steps"))


def theory_curves(cfg: NrBudgetConfig, ctx: SweepContext) -> list[dict]:
    return []  # measured only


def _train_group(cfg: NrBudgetConfig, base: RunConfig, seeds: range, ctx: SweepContext, done: int,
                 total: int) -> tuple[dict, float, int, float]:
    """Train the models of `seeds` as one BatchedTrainer and evaluate them: (their evaluation on the CPU,
    the training's seconds, the fixed noise sample's size, the data's scale)."""
    trainers = [Trainer(base.model_copy(update={"seed": base.seed + r}), stop=ctx.cancelled) for r in seeds]
    fixed_noise, scale = trainers[0].fixed_noise.shape[0], trainers[0].data_scale
    trainers[0].view(base.grid)  # the evaluation's grid with log p_d and log q, built now (it hears a cancel)
    batch = BatchedTrainer(trainers)
    del trainers  # the batch holds them
    started = reported = time.perf_counter()
    while batch.step_count < cfg.steps:
        batch.step(1, ctx.check)
        if time.perf_counter() - reported >= STEP_PERIOD_S:
            reported = time.perf_counter()
            ctx.report(done + batch.step_count * len(seeds), total)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    ctx.report(done + cfg.steps * len(seeds), total)  # trained: the evaluation follows
    return {key: value.cpu() for key, value in batch.evaluate(ctx.check).items()}, seconds, fixed_noise, scale


def run(cfg: NrBudgetConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per N_r: its `reps` seeds train as batches of models (group_size at a time)."""
    total = total_models(cfg) * cfg.steps
    done = 0
    ctx.report(0, total)
    for nr in cfg.nr:
        base = cfg.run_config(nr).model_copy(update={"device": ctx.device.type})
        group = group_size(cfg, base)
        results, seconds, fixed_noise, scale = [], 0.0, 0, 1.0
        for first in range(0, cfg.reps, group):
            seeds = range(first, min(cfg.reps, first + group))
            try:
                part, group_seconds, fixed_noise, scale = _train_group(cfg, base, seeds, ctx, done, total)
            except Stopped:  # the Trainer's heavy work (its grid view) heard the cancel
                raise SweepCancelled() from None
            results.append(part)
            seconds += group_seconds
            done += cfg.steps * len(seeds)
        result = {key: torch.cat([part[key] for part in results]) for key in results[0]}
        ok = ~result["diverged"]
        kl = result["kl"][ok]
        gap = (result["log_z_est"] - result["log_z_true"]).abs()[ok]
        measured, ci = mean_ci(kl) if bool(ok.any()) else (float("nan"), [float("nan")] * 2)
        z_gap, z_gap_ci = mean_ci(gap) if bool(ok.any()) else (float("nan"), [float("nan")] * 2)
        failed = int((~ok).sum())
        point = {"nr": nr, "measured": measured, "ci": ci, "theory": None, "z_gap": z_gap, "z_gap_ci": z_gap_ci,
                 "seconds_per_step": seconds / cfg.steps, "negatives_per_step": Trainer.negatives_for(base),
                 "fixed_noise": fixed_noise, "reps": int(ok.sum()), "failed": failed, "diverged": failed}
        if failed:
            cause = likely_cause(scale, base.lr, RunConfig.model_fields["lr"].default).removesuffix(" and reset")
            point["note"] = left_out_note(failed, cfg.reps, NCE_DIVERGENCE, cause)
        yield point
