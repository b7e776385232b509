"""`nr_budget`: what N_r buys on a real model, and what it costs.

The MLP energy of a live run, fitted by NCE to a fixed sample (T_d data points and round(N_r·T_d)
noise points per seed) with the same Adam steps for every model; `reps` seeds per N_r train at once
(BatchedTrainer: model r is Trainer(config, seed = seed + r)). Measured per N_r: the final
KL(p_d ‖ p_θ) and |log Ẑ − log Z| (quadrature on the grid), with their spread over seeds, and the
seconds one step of the batch of models took. No closed-form theory: this is the trade-off a user
faces, measured.

Any run knob (hidden, depth, lr, batch_size, noise, noise_scale, grid, ...) may be given; they are
checked exactly as a run's config is.
"""
from __future__ import annotations

import time
from typing import Annotated, Iterator, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..batched import BatchedTrainer
from ..config import ConfigError, RunConfig, parse_config
from ..data import CUSTOM
from ..trainer import Trainer
from .common import SweepContext, distinct, mean_ci

MAX_POINT_STEPS = 20_000_000_000  # models × steps × (data + noise points per step) a sweep may take
SWEEP_KNOBS = {"experiment", "reps", "nr"}  # the rest of the config is a run's knobs


class NrBudgetConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

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
        work = self.reps * self.steps * sum(c.batch_size + _negatives(c) for c in configs)
        if work > MAX_POINT_STEPS:
            raise ValueError(f"steps: this sweep would take {work:,} point-steps; the limit is {MAX_POINT_STEPS:,} "
                             "(fewer steps, reps, smaller nr or batch_size)")
        return self

    def run_config(self, nr: float) -> RunConfig:
        """The config of the models at this N_r (seed: the first model's)."""
        knobs = {**(self.model_extra or {}), "data": self.data, "sample_size": self.sample_size,
                 "steps": self.steps, "device": self.device, "seed": self.seed, "method": "nce", "nr": nr}
        return parse_config(knobs)


def _negatives(cfg: RunConfig) -> int:
    return Trainer.negatives_for(cfg)  # noise points per step


def total_models(cfg: NrBudgetConfig) -> int:
    return cfg.reps * len(cfg.nr)


def theory_curves(cfg: NrBudgetConfig) -> list[dict]:
    return []  # measured only


def run(cfg: NrBudgetConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per N_r: its `reps` seeds train as one batch of models."""
    total = total_models(cfg) * cfg.steps
    done = 0
    chunk = max(1, cfg.steps // 20)
    ctx.report(0, total)
    for nr in cfg.nr:
        base = cfg.run_config(nr).model_copy(update={"device": ctx.device.type})
        trainers = [Trainer(base.model_copy(update={"seed": base.seed + r})) for r in range(cfg.reps)]
        batch = BatchedTrainer(trainers)
        started = time.perf_counter()
        while batch.step_count < cfg.steps:
            batch.step(min(chunk, cfg.steps - batch.step_count))
            ctx.report(done + batch.step_count * cfg.reps, total)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        done += cfg.steps * cfg.reps
        result = batch.evaluate()
        ok = ~result["diverged"].cpu()
        kl = result["kl"].cpu()[ok]
        gap = (result["log_z_est"] - result["log_z_true"]).abs().cpu()[ok]
        measured, ci = mean_ci(kl) if bool(ok.any()) else (float("nan"), [float("nan")] * 2)
        z_gap, z_gap_ci = mean_ci(gap) if bool(ok.any()) else (float("nan"), [float("nan")] * 2)
        yield {"nr": nr, "measured": measured, "ci": ci, "theory": None, "z_gap": z_gap, "z_gap_ci": z_gap_ci,
               "seconds_per_step": seconds / cfg.steps, "negatives_per_step": _negatives(base),
               "fixed_noise": trainers[0].fixed_noise.shape[0], "reps": int(ok.sum()), "failed": int((~ok).sum())}
