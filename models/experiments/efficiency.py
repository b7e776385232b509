"""`efficiency`: how much N_r and the choice of q cost NCE in accuracy (Gutmann & Hyvärinen 2012, Thm 3).

Data N(0, 1); the model log u = −λx²/2 + c with λ and c free (c is NCE's −log Ẑ). Each repetition
draws T_d data points and N = round(N_r·T_d) noise points once and fits them exactly (float64
Newton). Measured, per (q, N_r): T_d · MSE(λ̂) / CR, where CR = 2λ*² = 2 is the Cramér–Rao bound
of λ from T_d points (Fisher information Var(x²/2) = 1/2): 1 means as good as maximum likelihood.

Theory (the theorem, by quadrature over p_d — independent of the fitting):

    g(x) = ∇_θ log p(x; θ*) = (−x²/2, 1)
    P(x) = N_r q(x) / (p_d(x) + N_r q(x))
    I = ∫ g gᵀ P p_d dx,   m = ∫ g P p_d dx
    Σ = I⁻¹ − (1 + 1/N_r) I⁻¹ m mᵀ I⁻¹          (T_d · Cov(θ̂) → Σ)
    theory = Σ_λλ / CR,   theory_c = Σ_cc / CR_c

For q = p_d, P = N_r/(1 + N_r) everywhere, I⁻¹ m = (0, 1), and both ratios are 1 + 1/N_r exactly.

c = −log Ẑ is what NCE is about, and when q = p_d the (1 + 1/N_r) I⁻¹ m mᵀ I⁻¹ term lies in Σ_cc alone
(I⁻¹ m = (0, 1): Σ_λλ cannot show it, there or near it). So each point also carries `measured_c` = T_d · MSE(ĉ) / CR_c
(with `ci_c`, `bias_c`) against `theory_c`, where c* = −½ log 2π and CR_c = 1/2 is the Cramér–Rao bound
of the normalised model's c = ½ log(λ/2π) = (dc/dλ)² · 2λ*²: what maximum likelihood would reach.

Every setting reuses the same R data samples (common random numbers, so the curves compare settings,
not luck), and each point carries `mle_baseline`: T_d · MSE / CR of maximum likelihood on those same
samples. Its distance from 1 is the samples' luck, shared by every point of the sweep. The samples are
drawn again block by block for each setting (common.data_chunks), so memory holds one chunk of fits,
never R × T_d points; only one repetition's T_d·(1 + N_r) points cannot be split (cost()).
"""
from __future__ import annotations

import math
from typing import Annotated, Iterator, Literal

import torch
from pydantic import BaseModel, Field, model_validator

from ..fixed_sample import fixed_noise_count
from ..gaussian_fit import fit_nce
from .common import (BASELINE_SECONDS_PER_POINT, CRAMER_RAO, DEFAULT_NOISES, MAX_SWEEP_POINTS, STRICT, NoiseSpec,
                     Phase, SweepContext, SweepCost, build_noise_spec, data_bytes, data_chunks, distinct, estimates,
                     fit_chunk_points, group_generator, human_count, lambda_summary, log_prob_rows, mean_ci,
                     mle_baseline, sample_rows, standard_normal)

QUAD_HALF_WIDTH = 14.0  # N(0, 1) mass beyond ±14 is ~1e-44
QUAD_POINTS = 40_001
CURVE_POINTS = 81       # N_r values of each theory curve
THEORY_CHUNK = 16       # N_r values whose quadrature is computed at once
# the cost model (cost()), measured with tests/models/experiments/test_sweep_cost.py's harness on the 2-core VM
FIT_BYTES_PER_POINT = 68      # a chunk of fits: the noise draws and their log q (16), fit_nce's powers and offsets
THEORY_BYTES_PER_CELL = 40    # theory(): (N_r values × quadrature points) float64 tensors, ~5 alive at once
FIT_SECONDS_PER_POINT = 8e-8  # one core: ~10 Newton iterations over each data or noise point
THEORY_SECONDS = 0.1          # one curve of CURVE_POINTS values
C_STAR = -0.5 * math.log(2 * math.pi)  # c of N(0, 1): λ* = 1, c* = ½ log(λ*/2π)
CRAMER_RAO_C = 0.5            # the bound on T_d·Var(ĉ) of c = ½ log(λ/2π): (1/(2λ*))² · 2λ*²


class EfficiencyConfig(BaseModel):
    model_config = STRICT

    experiment: Literal["efficiency"] = "efficiency"
    reps: int = Field(200, ge=2, le=100_000, description="Repetitions per (noise, N_r): 200 gives ±20% intervals "
                                                         "in seconds; 1000 gives ±9%.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds every draw of the sweep.")
    nr: list[Annotated[float, Field(ge=0.1, le=1000.0)]] = Field([0.5, 1.0, 2.0, 5.0, 10.0, 100.0], min_length=1, max_length=16,
                            description="The N_r values (0.1 to 1000): the theorem's curve falls like 1 + 1/N_r.")
    sample_size: int = Field(1000, ge=50, le=100_000, description="T_d data points per repetition: large enough "
                                                                 "for the asymptotic theory to hold.")
    noises: list[NoiseSpec] = Field(DEFAULT_NOISES, min_length=1, max_length=8,
                                    description="The noise distributions q to compare.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="after")
    def _bounded(self) -> "EfficiencyConfig":
        distinct("nr", self.nr)
        points = self.reps * len(self.noises) * sum(self.sample_size + _noise_count(v, self.sample_size)
                                                    for v in self.nr)
        if points > MAX_SWEEP_POINTS:
            raise ValueError(f"reps: this sweep would draw {points:,} points; the limit is {MAX_SWEEP_POINTS:,} "
                             "(fewer reps, a smaller sample_size or smaller nr)")
        return self


def total_models(cfg: EfficiencyConfig) -> int:
    return cfg.reps * len(cfg.nr) * len(cfg.noises)


def _noise_count(nr: float, sample_size: int) -> int:
    """N = round(N_r · T_d), from the one home of the fixed-noise count (fixed_sample.py)."""
    return fixed_noise_count("nce", sample_size, nr, 0)


def cost(cfg: EfficiencyConfig) -> SweepCost:
    """Peak memory: the theory's quadrature, or one block of data samples with one chunk of fits (one
    repetition at least: its T_d·(1 + N_r) points are fitted at once). Seconds: the points fitted."""
    t_d = cfg.sample_size
    row = t_d + max(_noise_count(v, t_d) for v in cfg.nr)  # points of one repetition's fit, the largest N_r
    chunk = fit_chunk_points(row, cfg.reps, t_d)
    fit_driver = (f"sample_size × (1 + nr) = {human_count(row)} points in one repetition's fit (fitted at once)"
                  if chunk == row else f"chunks of {chunk:,} points of fits (the reps are fitted chunk by chunk)")
    phases = [Phase(THEORY_BYTES_PER_CELL * THEORY_CHUNK * QUAD_POINTS,
                    f"the theory's quadrature ({THEORY_CHUNK} × {QUAD_POINTS:,} cells)", ()),
              Phase(data_bytes(cfg.reps, t_d) + FIT_BYTES_PER_POINT * chunk, fit_driver, ("sample_size", "nr"))]
    points = cfg.reps * len(cfg.noises) * sum(t_d + _noise_count(v, t_d) for v in cfg.nr)
    seconds = (points * FIT_SECONDS_PER_POINT + THEORY_SECONDS * len(cfg.noises)
               + cfg.reps * t_d * BASELINE_SECONDS_PER_POINT)
    return SweepCost.of(phases, seconds, total_models(cfg),
                        f"reps × len(nr) × len(noises) = {cfg.reps:,} × {len(cfg.nr)} × {len(cfg.noises)} "
                        "exact fits (one step each)",
                        ("reps", "nr", "noises"))


def theory(spec: NoiseSpec, nr_values: list[float]) -> list[float]:
    """Σ_λλ / CR of Theorem 3 for each N_r (module docstring)."""
    return [lam for lam, _ in _theory_ratios(spec, nr_values)]


def theory_c(spec: NoiseSpec, nr_values: list[float]) -> list[float]:
    """Σ_cc / CR_c of Theorem 3 for each N_r: the asymptotic T_d · Var(ĉ) of c = −log Ẑ over its bound."""
    return [c for _, c in _theory_ratios(spec, nr_values)]


def _theory_ratios(spec: NoiseSpec, nr_values: list[float]) -> list[tuple[float, float]]:
    """(Σ_λλ / CR, Σ_cc / CR_c) for each N_r, by midpoint quadrature on [−14, 14] (float64), THEORY_CHUNK
    values of N_r at a time (a few MB)."""
    data = standard_normal()
    noise = build_noise_spec(spec, data)
    x = torch.linspace(-QUAD_HALF_WIDTH, QUAD_HALF_WIDTH, QUAD_POINTS, dtype=torch.float64)
    dx = float(x[1] - x[0])
    log_pd, log_q = log_prob_rows(data, x), log_prob_rows(noise, x)  # (M,)
    g = torch.stack([-0.5 * x * x, torch.ones_like(x)], 1)  # (M, 2)
    outer = (g.unsqueeze(2) * g.unsqueeze(1)).reshape(-1, 4)  # (M, 4) g gᵀ
    values = []
    for start in range(0, len(nr_values), THEORY_CHUNK):
        nr = torch.tensor(nr_values[start:start + THEORY_CHUNK], dtype=torch.float64).unsqueeze(1)  # (L, 1)
        posterior = torch.sigmoid(torch.log(nr) + log_q - log_pd)  # (L, M) P(x), 0 where q = 0
        weight = posterior * log_pd.exp() * dx  # (L, M)
        fisher = (weight @ outer).reshape(-1, 2, 2)  # (L, 2, 2) I
        mean = weight @ g  # (L, 2) m
        inverse = torch.linalg.inv(fisher)
        im = (inverse @ mean.unsqueeze(2)).squeeze(2)  # (L, 2) I⁻¹ m
        sigma = inverse - (1 + 1 / nr).unsqueeze(2) * im.unsqueeze(2) * im.unsqueeze(1)  # (L, 2, 2)
        values += zip((sigma[:, 0, 0] / CRAMER_RAO).tolist(), (sigma[:, 1, 1] / CRAMER_RAO_C).tolist())
    return values


def c_summary(c_hat: torch.Tensor, converged: torch.Tensor, sample_size: int) -> dict:
    """T_d·MSE(ĉ)/CR_c with its interval and the bias of ĉ, over the converged fits with a finite ĉ."""
    c_hat, converged = c_hat.cpu(), converged.cpu() & torch.isfinite(c_hat.cpu())
    error = c_hat[converged] - C_STAR
    if not bool(converged.any()):
        return {"measured_c": math.nan, "ci_c": [math.nan, math.nan], "bias_c": math.nan}
    measured, ci = mean_ci(sample_size * error ** 2 / CRAMER_RAO_C)
    return {"measured_c": measured, "ci_c": ci, "bias_c": float(error.mean())}


def theory_curves(cfg: EfficiencyConfig, ctx: SweepContext) -> list[dict]:
    low, high = math.log10(min(cfg.nr)) - 0.3, math.log10(max(cfg.nr)) + 0.3
    xs = [10 ** (low + (high - low) * i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)]
    curves = []
    for spec in cfg.noises:
        ctx.check()
        curves.append({"noise": spec.public(), "label": spec.label(), "x": xs, "y": theory(spec, xs)})
    return curves


def run(cfg: EfficiencyConfig, ctx: SweepContext) -> Iterator[dict]:
    """One point per (noise, N_r), in that order, each as soon as its repetitions are fitted."""
    data = standard_normal()
    t_d, reps, device = cfg.sample_size, cfg.reps, ctx.device
    baseline = mle_baseline(cfg.seed, reps, t_d, device, ctx.check)
    total, done = total_models(cfg), 0
    ctx.report(0, total)
    for noise_index, spec in enumerate(cfg.noises):
        noise = build_noise_spec(spec, data)
        expected = _theory_ratios(spec, cfg.nr)
        for nr_index, nr in enumerate(cfg.nr):
            count = _noise_count(nr, t_d)
            gen = group_generator(cfg.seed, noise_index * len(cfg.nr) + nr_index, device)  # this setting's noise
            lam, converged = estimates(reps)
            c_hat, _ = estimates(reps)
            first = 0
            for x_data, log_q_data in data_chunks(cfg.seed, reps, t_d, count + t_d, noise, device, ctx.check):
                rows = slice(first, first + x_data.shape[0])  # x_data: (r, T)
                x_noise = sample_rows(noise, x_data.shape[0], count, gen)  # (r, N)
                theta, fitted = fit_nce(x_data, log_q_data, x_noise, log_prob_rows(noise, x_noise), nr, ctx.check)
                lam[rows], c_hat[rows], converged[rows] = theta[:, 0], theta[:, 1], fitted
                first = rows.stop
                ctx.report(done + first, total)
            done += reps
            yield {"nr": nr, "noise": spec.public(), "label": spec.label(), "theory": expected[nr_index][0],
                   **lambda_summary(lam, converged, t_d), "theory_c": expected[nr_index][1],
                   **c_summary(c_hat, converged, t_d), "noise_points": count, "mle_baseline": baseline}
