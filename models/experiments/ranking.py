"""`ranking`: ranking NCE / InfoNCE against k (Ma & Collins 2018).

Data N(0, 1), model log u = −λx²/2 + c. Each of the T_d data points is ranked against its own k noise
points; the scores s = λ·u(x) − log q(x) do not contain c, so only λ is estimated (Z is not
identified: the reason InfoNCE's log Ẑ never moves in the live view). Measured: T_d · MSE(λ̂) / CR
with CR = 2, as in `efficiency`, so the two experiments share an axis.

Theory: ranking NCE is an M-estimator, so T_d · Var(λ̂) → V / H² (the sandwich), with, at λ* = 1,
π = softmax_j(s_j) over the 1 + k candidates and u_j = −x_j²/2:

    H = E[ Σ_j π_j u_j² − (Σ_j π_j u_j)² ]      (the expected curvature)
    V = E[ (Σ_j π_j u_j − u_0)² ]               (the variance of the score)

and V = H (the information identity of a correctly specified conditional likelihood), so the theory
is 1 / (H · CR). H is a (1 + k)-dimensional integral, so the app estimates it by Monte Carlo from its
own draws (a generator of its own, not the sweep's); for q = p_d it has the closed form
H = k/(k+1) · Var u, i.e. 1 + 1/k, which the tests check the estimate against.

As in `efficiency`, the R data samples are drawn again block by block for each setting and fitted in
chunks of rows (common.data_chunks); one repetition's T_d·(1 + k) points are fitted at once (cost()).
"""
from __future__ import annotations

import math
from typing import Annotated, Callable, Iterator, Literal

import torch
from pydantic import BaseModel, Field, model_validator

from ..gaussian_fit import LOG_Q_FLOOR, feature, fit_ranking
from .common import (BASELINE_SECONDS_PER_POINT, CRAMER_RAO, DEFAULT_NOISES, MAX_SWEEP_POINTS, STRICT, NoiseSpec,
                     Phase, SweepContext, SweepCost, build_noise_spec, data_bytes, data_chunks, distinct, estimates,
                     fit_chunk_points, group_generator, human_count, lambda_summary, log_prob_rows, mle_baseline,
                     sample_rows, standard_normal)

THEORY_DRAWS = 2_000_000   # Monte Carlo candidates per k for the theory (tuples × (1 + k)): ~1% error
THEORY_CHUNK = 524_288     # candidates per chunk of the theory's Monte Carlo (a look at cancel between two)
THEORY_SEED = 20_180_601
# the cost model (cost()), measured with tests/models/experiments/test_sweep_cost.py's harness on the 2-core VM
FIT_BYTES_PER_POINT = 75      # a chunk of fits: the noise draws, their log q, fit_ranking's (R, T, 1 + k) tensors
THEORY_BYTES_PER_DRAW = 52    # a chunk of the theory's Monte Carlo: ~6 float64 tensors of its candidates
FIT_SECONDS_PER_POINT = 1.5e-7
THEORY_SECONDS_PER_DRAW = 8e-8


class RankingConfig(BaseModel):
    model_config = STRICT

    experiment: Literal["ranking"] = "ranking"
    reps: int = Field(200, ge=2, le=100_000, description="Repetitions per (noise, k).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds every draw of the sweep.")
    k: list[Annotated[int, Field(ge=1, le=1024)]] = Field([1, 2, 4, 8, 16, 64], min_length=1, max_length=16,
                         description="Negatives per data point (1 to 1024).")
    sample_size: int = Field(1000, ge=50, le=100_000, description="T_d data points per repetition.")
    noises: list[NoiseSpec] = Field(DEFAULT_NOISES[:4], min_length=1, max_length=8,
                                    description="The noise distributions q to compare.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="after")
    def _bounded(self) -> "RankingConfig":
        distinct("k", self.k)
        points = self.reps * len(self.noises) * sum(self.sample_size * (1 + value) for value in self.k)
        if points > MAX_SWEEP_POINTS:
            raise ValueError(f"reps: this sweep would draw {points:,} points; the limit is {MAX_SWEEP_POINTS:,} "
                             "(fewer reps, a smaller sample_size or smaller k)")
        return self


def total_models(cfg: RankingConfig) -> int:
    return cfg.reps * len(cfg.k) * len(cfg.noises)


def cost(cfg: RankingConfig) -> SweepCost:
    """Peak memory: a chunk of the theory's Monte Carlo, or one block of data samples with one chunk of
    fits (one repetition at least: T_d·(1 + k) points at once). Seconds: the points fitted and drawn."""
    t_d = cfg.sample_size
    row = t_d * (1 + max(cfg.k))
    chunk = fit_chunk_points(row, cfg.reps, t_d)
    fit_driver = (f"sample_size × (1 + k) = {human_count(row)} points in one repetition's fit (fitted at once)"
                  if chunk == row else f"chunks of {chunk:,} points of fits (the reps are fitted chunk by chunk)")
    phases = [Phase(THEORY_BYTES_PER_DRAW * THEORY_CHUNK, f"the theory's Monte Carlo ({THEORY_CHUNK:,} draws "
                    "at once)", ()),
              Phase(data_bytes(cfg.reps, t_d) + FIT_BYTES_PER_POINT * chunk, fit_driver, ("sample_size", "k"))]
    points = cfg.reps * len(cfg.noises) * sum(t_d * (1 + k) for k in cfg.k)
    draws = len(cfg.noises) * (len(cfg.k) * THEORY_DRAWS + len(_curve_ks(cfg)) * THEORY_DRAWS // 4)
    seconds = (points * FIT_SECONDS_PER_POINT + draws * THEORY_SECONDS_PER_DRAW
               + cfg.reps * t_d * BASELINE_SECONDS_PER_POINT)
    return SweepCost.of(phases, seconds, total_models(cfg),
                        f"reps × len(k) × len(noises) = {cfg.reps:,} × {len(cfg.k)} × {len(cfg.noises)} "
                        "exact fits (one step each)",
                        ("reps", "k", "noises"))


def sandwich_parts(spec: NoiseSpec, k: int, draws: int = THEORY_DRAWS,
                   check: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """(H, V) at λ* = 1 by Monte Carlo over max(1000, draws / (1 + k)) tuples (see the module docstring),
    in chunks of ~THEORY_CHUNK candidates with a call to `check` (it raises to cancel) before each."""
    data = standard_normal()
    noise = build_noise_spec(spec, data)
    gen = torch.Generator().manual_seed(THEORY_SEED)
    tuples = max(1000, draws // (1 + k))
    chunk = max(1, THEORY_CHUNK // (1 + k))
    curvature = score_sq = 0.0
    for start in range(0, tuples, chunk):
        check()
        n = min(tuples - start, chunk)
        x = torch.cat([sample_rows(data, n, 1, gen), sample_rows(noise, n, k, gen)], 1)  # (n, 1+k)
        u = feature(x)
        scores = u - log_prob_rows(noise, x).clamp_min(LOG_Q_FLOOR)  # + log p_d − log u: a constant
        pi = torch.softmax(scores, 1)
        mean_u = (pi * u).sum(1)
        curvature += float(((pi * u * u).sum(1) - mean_u ** 2).sum())
        score_sq += float(((mean_u - u[:, 0]) ** 2).sum())
    return curvature / tuples, score_sq / tuples


def theory(spec: NoiseSpec, k_values: list[int], draws: int = THEORY_DRAWS,
           check: Callable[[], None] = lambda: None) -> list[float]:
    """T_d · Var(λ̂) / CR = 1 / (H · CR) for each k. Ranking NCE at λ* is the maximum-likelihood fit of a
    correctly specified conditional model (which of the 1 + k candidates is the data point), so the
    information identity V = H holds and the sandwich V/H² is 1/H, whose Monte Carlo error is half
    that of V/H² estimated term by term (the tests check V ≈ H)."""
    values = []
    for k in k_values:
        curvature, _ = sandwich_parts(spec, k, draws, check)
        values.append(1.0 / (curvature * CRAMER_RAO) if curvature > 0 else math.inf)
    return values


def _curve_ks(cfg: RankingConfig) -> list[int]:
    grid = sorted({1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024, *cfg.k})
    return [k for k in grid if k <= max(2 * max(cfg.k), 4)]


def theory_curves(cfg: RankingConfig, ctx: SweepContext) -> list[dict]:
    xs = _curve_ks(cfg)
    return [{"noise": spec.public(), "label": spec.label(), "x": xs,
             "y": theory(spec, xs, THEORY_DRAWS // 4, ctx.check)} for spec in cfg.noises]


def run(cfg: RankingConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per (noise, k), each as soon as its repetitions are fitted."""
    data = standard_normal()
    t_d, reps, device = cfg.sample_size, cfg.reps, ctx.device
    baseline = mle_baseline(cfg.seed, reps, t_d, device, ctx.check)
    total, done = total_models(cfg), 0
    ctx.report(0, total)
    for noise_index, spec in enumerate(cfg.noises):
        noise = build_noise_spec(spec, data)
        expected = theory(spec, cfg.k, check=ctx.check)
        for k_index, k in enumerate(cfg.k):
            gen = group_generator(cfg.seed, noise_index * len(cfg.k) + k_index, device)  # this setting's noise
            lam, converged = estimates(reps)
            first = 0
            for x_data, log_q_data in data_chunks(cfg.seed, reps, t_d, t_d * (1 + k), noise, device, ctx.check):
                rows = slice(first, first + x_data.shape[0])  # x_data: (r, T)
                x_noise = sample_rows(noise, x_data.shape[0] * t_d, k, gen).reshape(-1, t_d, k)  # (r, T, k)
                lam_hat, fitted = fit_ranking(x_data, log_q_data, x_noise, log_prob_rows(noise, x_noise), ctx.check)
                lam[rows], converged[rows] = lam_hat, fitted
                first = rows.stop
                ctx.report(done + first, total)
            done += reps
            yield {"k": k, "noise": spec.public(), "label": spec.label(), "theory": expected[k_index],
                   **lambda_summary(lam, converged, t_d), "c_identified": False, "mle_baseline": baseline}
