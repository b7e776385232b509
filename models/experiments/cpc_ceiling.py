"""`cpc_ceiling`: the InfoNCE bound on mutual information cannot exceed log(batch) (Poole et al. 2019).

Pairs (x, y) from a standard bivariate Gaussian with correlation ρ = √(1 − e^{−2·MI}), so the true
mutual information is MI nats. A critic f(x, y) = g(x)ᵀh(y) (the live CPC view's critic) is trained
with in-batch negatives for each (MI, batch size, repetition); all critics of one batch size train
at once as stacked MLPs. Measured: log B − L averaged over fresh evaluation batches, per (MI, B).

Theory: the best any critic can do is the optimal critic f*(x, y) = log p(y | x) − log p(y) (up to
terms in x alone, which cancel), whose InfoNCE value

    I_B(MI) = E[ log B − (1/B) Σ_i ( log Σ_j e^{f*(x_i, y_j)} − f*(x_i, y_i) ) ]  ≤  min(MI, log B)

the app computes by Monte Carlo from its own draws with the closed-form density ratio:
    f*(x, y) = −(y − ρx)² / (2(1 − ρ²)) − ½ log(1 − ρ²) + y²/2.

Memory: the R × B × B scores are computed a chunk of models at a time (forward and backward, with a
look at cancel between chunks), so one step holds ~CHUNK_ELEMENTS of them, never all; the theory's
Monte Carlo likewise holds ~THEORY_CHUNK_SCORES. A critic whose loss goes non-finite or grows past
1000× its first value (divergence.py's rules 1 and 2, as a live run) is left out of its point.
"""
from __future__ import annotations

import math
import time
from typing import Annotated, Callable, Iterator, Literal

import torch
from pydantic import BaseModel, Field, model_validator

from ..batched import StackedMLP
from ..cpc import EMBEDDING, PairCritic
from ..data import correlation_for_mi
from ..divergence import LOSS_GROWTH, likely_cause
from ..methods import mi_estimate
from ..objectives import cpc_loss
from ..trainer import _init_parameters, scheduled_lr
from .common import (LOSS_DIVERGENCE, STRICT, Phase, SweepContext, SweepCost, distinct, group_generator, left_out_note,
                     mean_ci)

THEORY_SCORES = 4_000_000  # Monte Carlo budget per (MI, B) point: batches × B²
THEORY_CHUNK_SCORES = 262_144  # scores of the optimal critic computed at once (a look at cancel between two)
THEORY_SEED = 20_190_501
MAX_SCORE_WORK = 40_000_000_000  # models × steps × B² score entries a sweep may compute
CHUNK_ELEMENTS = 4_194_304  # scores + embedding activations of the models one forward/backward holds
# the cost model (cost()), measured with tests/models/experiments/test_sweep_cost.py's harness on the 2-core VM
BYTES_PER_ELEMENT = 15      # float32 scores and activations, their softmax and gradients in a chunk's backward
THEORY_BYTES_PER_SCORE = 44  # float64: the differences, their squares, the scores and the logsumexp's exp
PARAM_COPIES = 5            # each stacked parameter: itself, its gradient, Adam's two moments, a temporary
SECONDS_PER_SCORE = 2e-9       # one core: a score's logsumexp, forward and backward
SECONDS_PER_MAC = 5e-10        # one core: a multiply-add of the embeddings, forward and backward
SECONDS_PER_PARAMETER = 1e-8   # one core: Adam's update of one parameter
SECONDS_PER_CHUNK = 1e-3       # one core: a chunk's Python and small kernels
THEORY_SECONDS_PER_SCORE = 2e-8
DEFAULT_LR = 5e-3


class CpcCeilingConfig(BaseModel):
    model_config = STRICT

    experiment: Literal["cpc_ceiling"] = "cpc_ceiling"
    reps: int = Field(3, ge=1, le=64, description="Critics trained per (MI, batch size).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the critics and the pairs.")
    mi: list[Annotated[float, Field(ge=0.0, le=10.0)]] = Field([2.0, 4.0, 6.0, 8.0], min_length=1, max_length=12,
                            description="True mutual information of the pairs, nats (0 to 10).")
    batch_size: list[Annotated[int, Field(ge=8, le=1024)]] = Field([16, 64, 256], min_length=1, max_length=6,
                                  description="Batch sizes B (8 to 1024): the estimate cannot exceed log B.")
    steps: int = Field(1500, ge=10, le=100_000, description="Adam steps per critic.")
    lr: float = Field(DEFAULT_LR, gt=0.0, le=1.0, description="Adam learning rate (cosine-decayed to 5%).")
    hidden: int = Field(64, ge=4, le=256, description="Hidden width of each embedding MLP.")
    depth: int = Field(2, ge=1, le=4, description="Hidden layers of each embedding MLP.")
    eval_batches: int = Field(16, ge=1, le=1024, description="Fresh batches averaged for each critic's estimate.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="after")
    def _bounded(self) -> "CpcCeilingConfig":
        distinct("mi", self.mi)
        distinct("batch_size", self.batch_size)
        work = self.reps * len(self.mi) * self.steps * sum(b * b for b in self.batch_size)
        if work > MAX_SCORE_WORK:
            raise ValueError(f"steps: this sweep would compute {work:,} critic scores; the limit is "
                             f"{MAX_SCORE_WORK:,} (fewer steps, reps or smaller batch sizes)")
        return self


def total_models(cfg: CpcCeilingConfig) -> int:
    return cfg.reps * len(cfg.mi) * len(cfg.batch_size)


def _elements(cfg: CpcCeilingConfig, batch: int) -> int:
    """What one critic's step holds: its B × B scores and both embeddings' activations."""
    return batch * batch + 2 * batch * (cfg.hidden * cfg.depth + EMBEDDING)


def models_per_chunk(cfg: CpcCeilingConfig, batch: int) -> int:
    return max(1, min(cfg.reps * len(cfg.mi), CHUNK_ELEMENTS // _elements(cfg, batch)))


def _chunks(models: int, per_chunk: int) -> list[slice]:
    return [slice(start, min(models, start + per_chunk)) for start in range(0, models, per_chunk)]


def cost(cfg: CpcCeilingConfig) -> SweepCost:
    """Peak memory: a chunk of the theory's scores, or one batch size's stacked critics with one chunk of
    models' scores and activations (one critic at least). Seconds: the score entries and activations
    computed, forward and backward, plus the theory."""
    models = cfg.reps * len(cfg.mi)
    params = 2 * (cfg.hidden * (cfg.hidden + 1) * (cfg.depth - 1) + 2 * cfg.hidden + (cfg.hidden + 1) * EMBEDDING)
    phases, seconds = [], 0.0
    for batch in cfg.batch_size:
        per_chunk = models_per_chunk(cfg, batch)
        held = per_chunk * _elements(cfg, batch) * BYTES_PER_ELEMENT
        stacked = models * params * 4 * PARAM_COPIES + models * batch * 8 * 6  # critics, and the pairs (float64)
        if held >= stacked:
            what = (f"batch_size² + 2 × batch_size × (hidden × depth + {EMBEDDING}) = {_elements(cfg, batch):,} "
                    f"scores and activations of each of {per_chunk} critics at once (B = {batch})")
            knobs = ("batch_size", "hidden", "depth")
        else:
            what = f"reps × len(mi) = {models} critics of {params:,} parameters each (B = {batch})"
            knobs = ("reps", "mi", "hidden", "depth")
        phases.append(Phase(held + stacked, what, knobs))
        macs = 2 * batch * (cfg.hidden * cfg.hidden * (cfg.depth - 1) + cfg.hidden * (EMBEDDING + 1))
        step = models * (batch * batch * SECONDS_PER_SCORE + macs * SECONDS_PER_MAC) \
            + len(_chunks(models, per_chunk)) * SECONDS_PER_CHUNK
        seconds += (cfg.steps + cfg.eval_batches / 3) * step + cfg.steps * models * params * SECONDS_PER_PARAMETER
        seconds += THEORY_SECONDS_PER_SCORE * (17 * max(8 * batch * batch, THEORY_SCORES // 4)
                                               + len(cfg.mi) * max(8 * batch * batch, THEORY_SCORES))
    theory_scores = max(max(1, THEORY_CHUNK_SCORES // (b * b)) * b * b for b in cfg.batch_size)
    phases.append(Phase(THEORY_BYTES_PER_SCORE * theory_scores,
                        f"the theory's Monte Carlo ({theory_scores:,} scores at once)", ("batch_size",)))
    return SweepCost.of(phases, seconds, total_models(cfg) * cfg.steps,
                        f"reps × len(mi) × len(batch_size) × steps = {cfg.reps} × {len(cfg.mi)} × "
                        f"{len(cfg.batch_size)} × {cfg.steps:,}", ("reps", "mi", "batch_size", "steps"))


def _pairs(rho: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y: (R, B) float64 standard normal pairs with correlation rho (R, 1)."""
    shape = (rho.shape[0], batch)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, device=rho.device)
    noise = torch.randn(shape, generator=gen, dtype=torch.float64, device=rho.device)
    return x, rho * x + torch.sqrt(1 - rho * rho) * noise


def optimal_critic_value(mi: float, batch: int, budget: int = THEORY_SCORES,
                         check: Callable[[], None] = lambda: None) -> float:
    """I_B(MI) of the optimal critic, by Monte Carlo (module docstring): max(8, budget / B²) batches,
    scored ~THEORY_CHUNK_SCORES at a time with a call to `check` (it raises to cancel) before each."""
    rho = torch.tensor([[correlation_for_mi(mi)]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(THEORY_SEED)
    batches = max(8, budget // (batch * batch))
    x, y = _pairs(rho.expand(batches, 1), batch, gen)  # (n, B)
    var = 1 - rho ** 2  # (1, 1)
    per_chunk = max(1, THEORY_CHUNK_SCORES // (batch * batch))
    total = 0.0
    for start in range(0, batches, per_chunk):
        check()
        xs, ys = x[start:start + per_chunk], y[start:start + per_chunk]
        diff = ys.unsqueeze(1) - rho * xs.unsqueeze(2)  # (n, B, B): y_j − ρ x_i
        scores = -diff ** 2 / (2 * var) - 0.5 * torch.log(var) + 0.5 * ys.unsqueeze(1) ** 2
        total += float(mi_estimate(cpc_loss(scores), batch).sum())
    return total / batches


def theory_curves(cfg: CpcCeilingConfig, ctx: SweepContext) -> list[dict]:
    top = max(cfg.mi)
    xs = [top * i / 16 for i in range(17)]
    return [{"batch_size": b, "label": f"optimal critic, B = {b}", "cap": math.log(b), "x": xs,
             "y": [optimal_critic_value(mi, b, THEORY_SCORES // 4, ctx.check) for mi in xs]} for b in cfg.batch_size]


def run(cfg: CpcCeilingConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per (batch size, MI): all critics of one batch size train together, a chunk of them
    at a time within each step."""
    device, done = ctx.device, 0
    total = total_models(cfg) * cfg.steps  # progress in model-steps
    report_every = max(1, cfg.steps // 20)
    ctx.report(0, total)
    for group, batch in enumerate(cfg.batch_size):
        settings = [(mi, rep) for mi in cfg.mi for rep in range(cfg.reps)]
        critics = []
        for index, (mi, rep) in enumerate(settings):
            critic = PairCritic(cfg.hidden, cfg.depth)
            _init_parameters(critic, torch.Generator().manual_seed(cfg.seed * 7919 + rep * 104_729 + index))
            critics.append(critic)
        embed_x = StackedMLP([c.embed_x for c in critics]).to(device)
        embed_y = StackedMLP([c.embed_y for c in critics]).to(device)
        del critics  # the stacks hold copies
        rho = torch.tensor([[correlation_for_mi(mi)] for mi, _ in settings], dtype=torch.float64, device=device)
        gen = group_generator(cfg.seed, group, device)
        optimizer = torch.optim.Adam([*embed_x.parameters(), *embed_y.parameters()], lr=cfg.lr, foreach=True)
        chunks = _chunks(len(settings), models_per_chunk(cfg, batch))
        reference = torch.full((len(settings),), math.nan, device=device)  # each critic's first loss (rule 2)
        diverged = torch.zeros(len(settings), dtype=torch.bool, device=device)

        def losses(batch_x, batch_y, part):  # (r, B) each -> (r,)
            g = embed_x(batch_x.float().unsqueeze(2), part)  # (r, B, E)
            h = embed_y(batch_y.float().unsqueeze(2), part)
            return cpc_loss(g @ h.transpose(1, 2))  # scores (r, B, B)

        started = time.perf_counter()
        for step in range(cfg.steps):
            for param_group in optimizer.param_groups:
                param_group["lr"] = scheduled_lr(cfg.lr, step, cfg.steps, True)
            optimizer.zero_grad(set_to_none=True)
            x, y = _pairs(rho, batch, gen)  # (R, B)
            for part in chunks:
                ctx.check()
                loss = losses(x[part], y[part], part)  # (r,)
                value = loss.detach()
                reference[part] = torch.where(torch.isnan(reference[part]), value, reference[part])
                blown = value.abs() > LOSS_GROWTH * reference[part].abs().clamp_min(1.0)  # divergence rule 2
                diverged[part] |= ~torch.isfinite(value) | blown  # and rule 1
                torch.where(diverged[part], torch.zeros_like(loss), loss).sum().backward()
            optimizer.step()
            if step % report_every == 0:
                ctx.report(done + step * len(settings), total)
        seconds = time.perf_counter() - started
        done += len(settings) * cfg.steps
        ctx.report(done, total)  # trained: the evaluation follows
        estimate = torch.zeros(len(settings), dtype=torch.float64, device=device)
        with torch.no_grad():
            for _ in range(cfg.eval_batches):
                x, y = _pairs(rho, batch, gen)
                for part in chunks:
                    ctx.check()
                    estimate[part] += mi_estimate(losses(x[part], y[part], part).double(), batch)
        estimate = (estimate / cfg.eval_batches).cpu()  # (R,)
        diverged = diverged.cpu() | ~torch.isfinite(estimate)
        for mi_index, mi in enumerate(cfg.mi):
            rows = slice(mi_index * cfg.reps, (mi_index + 1) * cfg.reps)
            values, ok = estimate[rows], ~diverged[rows]
            measured, ci = mean_ci(values[ok]) if bool(ok.any()) else (math.nan, [math.nan, math.nan])
            point = {"mi": mi, "batch_size": batch, "measured": measured, "ci": ci,
                     "theory": optimal_critic_value(mi, batch, check=ctx.check), "cap": math.log(batch),
                     "reps": int(ok.sum()), "failed": int((~ok).sum()), "diverged": int((~ok).sum()),
                     "seconds_per_step": seconds / cfg.steps}
            if not bool(ok.all()):
                cause = likely_cause(1.0, cfg.lr, DEFAULT_LR).removesuffix(" and reset")
                point["note"] = left_out_note(int((~ok).sum()), cfg.reps, LOSS_DIVERGENCE, cause)
            yield point
