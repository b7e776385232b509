"""What every experiment shares: the sweep context (device, progress, cancel), the noise choices of
the 1-D estimator experiments, the standard data N(0, 1) and confidence intervals."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..densities import Density, Gaussian
from ..fixed_sample import DATA_STREAM, stream_generator
from ..noise import NOISE_FAMILIES, DataStats, build_noise

CRAMER_RAO = 2.0  # 2λ*², λ* = 1: the bound on T_d·Var(λ̂) from N(0, 1) data (Fisher information Var(x²/2) = 1/2)
MAX_SWEEP_POINTS = 2_000_000_000  # data + noise points a sweep may draw in all (~1 min on one GPU, minutes on a CPU)
Z_95 = 1.959963984540054          # two-sided 95% normal quantile

NoiseChoice = Literal[tuple(["data", *NOISE_FAMILIES])]  # type: ignore[valid-type]


class SweepCancelled(Exception):
    """Raised inside a sweep when its context says it was cancelled."""


@dataclass
class SweepContext:
    """How a running sweep talks to its caller: it reports, it does not talk (no I/O here)."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: Optional[Callable[[int, int], None]] = None  # (work done, work in all), in the experiment's units
    cancelled: Callable[[], bool] = lambda: False

    def report(self, done: int, total: int) -> None:
        if self.cancelled():
            raise SweepCancelled()
        if self.progress is not None:
            self.progress(done, total)


class NoiseSpec(BaseModel):
    """One noise distribution q of a 1-D experiment: "data" is q = p_d itself; any other family is
    placed by hand with noise_loc and noise_scale (its standard deviation), as in a run's config."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    noise: NoiseChoice = Field("data", description="q = p_d ('data'), or a noise family by name.")
    noise_loc: float = Field(0.0, ge=-20.0, le=20.0, description="Centre of q (not for 'data').")
    noise_scale: float = Field(1.0, ge=0.05, le=50.0, description="Standard deviation of q (not for 'data').")

    def label(self) -> str:
        if self.noise == "data":
            return "q = p_d"
        return f"{self.noise}({self.noise_loc:g}, {self.noise_scale:g})"

    def public(self) -> dict[str, Any]:
        """The spec as it appears in SWEEP_RESULT.json: only the fields that mean something."""
        return {"noise": "data"} if self.noise == "data" else self.model_dump()


# q = p_d, two widths, heavier tails, a uniform that misses the tails, and q shifted off the data
DEFAULT_NOISES = [
    NoiseSpec(noise="data"),
    NoiseSpec(noise="gaussian", noise_scale=2.0),
    NoiseSpec(noise="gaussian", noise_scale=0.5),
    NoiseSpec(noise="laplace", noise_scale=1.0),
    NoiseSpec(noise="uniform", noise_scale=1.0),
    NoiseSpec(noise="gaussian", noise_loc=2.0, noise_scale=1.0),
]


def standard_normal() -> Gaussian:
    """The data of the estimator experiments: N(0, 1), so that λ* = 1 in log u = −λx²/2 + c."""
    return Gaussian([0.0], [[1.0]])


def build_noise_spec(spec: NoiseSpec, data: Density) -> Density:
    """q for a NoiseSpec in 1-D: p_d itself, or the family at (noise_loc, noise_scale)."""
    if spec.noise == "data":
        return data
    box = torch.tensor([[-10.0, 10.0]], dtype=torch.float64)  # only a fitted uniform uses the box
    stats = DataStats(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64),
                      torch.ones(1, 1, dtype=torch.float64))
    return build_noise(spec.noise, stats, box, False, spec.noise_loc, spec.noise_scale)


def sample_rows(density: Density, rows: int, per_row: int, gen: torch.Generator) -> torch.Tensor:
    """(rows, per_row) float64 draws from a 1-D density."""
    return density.sample(rows * per_row, gen).reshape(rows, per_row)


def log_prob_rows(density: Density, x: torch.Tensor) -> torch.Tensor:
    """log density of a 1-D density at every entry of x (any shape), same shape."""
    return density.log_prob(x.reshape(-1, 1)).reshape(x.shape)


def estimator_data(seed: int, reps: int, sample_size: int, device: torch.device) -> tuple[torch.Tensor, float]:
    """The R data samples of an estimator experiment, (R, T_d) draws from N(0, 1), and the MLE's
    T_d·MSE(λ̂)/CR on them. Every setting of a sweep reuses these samples (common random numbers: the
    curves compare settings, not luck), so the MLE's ratio is the yardstick all its points share."""
    x_data = sample_rows(standard_normal(), reps, sample_size, stream_generator(seed, DATA_STREAM, device))
    mle_baseline, _ = mean_ci(sample_size * (1.0 / (x_data ** 2).mean(1) - 1.0).cpu() ** 2 / CRAMER_RAO)
    return x_data, mle_baseline


def lambda_summary(lam_hat: torch.Tensor, converged: torch.Tensor, sample_size: int) -> dict:
    """A point's numbers from R estimates λ̂ (R,): T_d·MSE/CR with its interval, over the converged fits."""
    lam_hat, converged = lam_hat.cpu(), converged.cpu() & torch.isfinite(lam_hat.cpu())
    error = lam_hat[converged] - 1.0
    measured, ci = mean_ci(sample_size * error ** 2 / CRAMER_RAO)
    return {"measured": measured, "ci": ci, "reps": int(converged.sum()), "failed": int((~converged).sum()),
            "bias": float(error.mean())}


def distinct(name: str, values: list) -> None:
    """A swept list names each setting once: a repeat would only draw the same point twice."""
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{name}: {value:g} appears twice; list each value once")
        seen.add(value)


def mean_ci(values: torch.Tensor) -> tuple[float, list[float]]:
    """Mean and its 95% normal-approximation confidence interval (mean ± 1.96 s/√n)."""
    values = values.double()
    n = values.numel()
    mean = float(values.mean())
    if n < 2:
        return mean, [mean, mean]
    half = Z_95 * float(values.std()) / math.sqrt(n)
    return mean, [mean - half, mean + half]


def group_generator(seed: int, group: int, device: torch.device) -> torch.Generator:
    """The generator of one (setting) group of a sweep: independent of the other groups'."""
    return stream_generator(seed, 100 + group, device)


def chunk_rows(points_per_row: int, rows: int, budget: int = 1_000_000) -> int:
    """Rows per chunk so that a chunk holds about `budget` points: bounded memory, a cancel heard within a
    chunk (~0.2 s), and 15% faster than 4M-point chunks on the 2-core VM (their tensors fit the caches less)."""
    return max(1, min(rows, budget // max(1, points_per_row)))
