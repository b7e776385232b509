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
"""
from __future__ import annotations

import math
import time
from typing import Annotated, Iterator, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..batched import StackedMLP
from ..cpc import PairCritic
from ..data import correlation_for_mi
from ..objectives import cpc_loss
from ..trainer import _init_parameters, scheduled_lr
from .common import SweepContext, distinct, group_generator, mean_ci

THEORY_SCORES = 4_000_000  # Monte Carlo budget per (MI, B) point: batches × B²
THEORY_SEED = 20_190_501
MAX_SCORE_WORK = 40_000_000_000  # models × steps × B² score entries a sweep may compute


class CpcCeilingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: Literal["cpc_ceiling"] = "cpc_ceiling"
    reps: int = Field(3, ge=1, le=64, description="Critics trained per (MI, batch size).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the critics and the pairs.")
    mi: list[Annotated[float, Field(ge=0.0, le=10.0)]] = Field([2.0, 4.0, 6.0, 8.0], min_length=1, max_length=12,
                            description="True mutual information of the pairs, nats (0 to 10).")
    batch_size: list[Annotated[int, Field(ge=8, le=1024)]] = Field([16, 64, 256], min_length=1, max_length=6,
                                  description="Batch sizes B (8 to 1024): the estimate cannot exceed log B.")
    steps: int = Field(1500, ge=10, le=100_000, description="Adam steps per critic.")
    lr: float = Field(5e-3, gt=0.0, le=1.0, description="Adam learning rate (cosine-decayed to 5%).")
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


def _pairs(rho: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y: (R, B) float64 standard normal pairs with correlation rho (R, 1)."""
    shape = (rho.shape[0], batch)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, device=rho.device)
    noise = torch.randn(shape, generator=gen, dtype=torch.float64, device=rho.device)
    return x, rho * x + torch.sqrt(1 - rho * rho) * noise


def optimal_critic_value(mi: float, batch: int, budget: int = THEORY_SCORES) -> float:
    """I_B(MI) of the optimal critic, by Monte Carlo (module docstring)."""
    rho = torch.tensor([[correlation_for_mi(mi)]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(THEORY_SEED)
    batches = max(8, budget // (batch * batch))
    rho_b = rho.expand(batches, 1)
    x, y = _pairs(rho_b, batch, gen)  # (n, B)
    var = 1 - rho_b.unsqueeze(2) ** 2  # (n, 1, 1)
    diff = y.unsqueeze(1) - rho_b.unsqueeze(2) * x.unsqueeze(2)  # (n, B, B): y_j − ρ x_i
    scores = -diff ** 2 / (2 * var) - 0.5 * torch.log(var) + 0.5 * y.unsqueeze(1) ** 2
    return float((math.log(batch) - cpc_loss(scores)).mean())


def theory_curves(cfg: CpcCeilingConfig) -> list[dict]:
    top = max(cfg.mi)
    xs = [top * i / 16 for i in range(17)]
    return [{"batch_size": b, "label": f"optimal critic, B = {b}", "cap": math.log(b), "x": xs,
             "y": [optimal_critic_value(mi, b, THEORY_SCORES // 4) for mi in xs]} for b in cfg.batch_size]


def run(cfg: CpcCeilingConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per (batch size, MI): all critics of one batch size train together."""
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
        rho = torch.tensor([[correlation_for_mi(mi)] for mi, _ in settings], dtype=torch.float64, device=device)
        gen = group_generator(cfg.seed, group, device)
        optimizer = torch.optim.Adam([*embed_x.parameters(), *embed_y.parameters()], lr=cfg.lr, foreach=True)

        def losses(batch_x, batch_y):  # (R, B) each -> (R,)
            scores = embed_x(batch_x.float().unsqueeze(2)) @ embed_y(batch_y.float().unsqueeze(2)).transpose(1, 2)
            return cpc_loss(scores)

        started = time.perf_counter()
        for step in range(cfg.steps):
            for param_group in optimizer.param_groups:
                param_group["lr"] = scheduled_lr(cfg.lr, step, cfg.steps, True)
            optimizer.zero_grad(set_to_none=True)
            loss = losses(*_pairs(rho, batch, gen))
            torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss)).sum().backward()
            optimizer.step()
            if step % report_every == 0:
                ctx.report(done + step * len(settings), total)
        seconds = time.perf_counter() - started
        with torch.no_grad():
            estimate = torch.stack([math.log(batch) - losses(*_pairs(rho, batch, gen))
                                    for _ in range(cfg.eval_batches)]).double().mean(0).cpu()  # (R,)
        done += len(settings) * cfg.steps
        ctx.report(done, total)
        for mi_index, mi in enumerate(cfg.mi):
            values = estimate[mi_index * cfg.reps:(mi_index + 1) * cfg.reps]
            ok = torch.isfinite(values)
            measured, ci = mean_ci(values[ok]) if bool(ok.any()) else (math.nan, [math.nan, math.nan])
            yield {"mi": mi, "batch_size": batch, "measured": measured, "ci": ci,
                   "theory": optimal_critic_value(mi, batch), "cap": math.log(batch), "reps": int(ok.sum()),
                   "failed": int((~ok).sum()), "seconds_per_step": seconds / cfg.steps}
