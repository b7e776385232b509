"""What every experiment shares: the sweep context (device, progress, cancel), the predicted cost of a
sweep (SweepCost), the noise choices of the 1-D estimator experiments, the standard data N(0, 1) drawn
block by block, confidence intervals and the note on models left out of a point."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..cost import human_bytes, knob_list  # one way to say a size and a list of knobs
from ..densities import Density, Gaussian
from ..fixed_sample import stream_generator
from ..noise import NOISE_FAMILIES, DataStats, build_noise

CRAMER_RAO = 2.0  # 2λ*², λ* = 1: the bound on T_d·Var(λ̂) from N(0, 1) data (Fisher information Var(x²/2) = 1/2)
MAX_SWEEP_POINTS = 2_000_000_000  # data + noise points a sweep may fit in all (~1 min on a GPU, ~3 min on a core)
Z_95 = 1.959963984540054          # two-sided 95% normal quantile
MB = 2 ** 20
DATA_BLOCK_POINTS = 1_000_000     # data points of the R samples drawn at once (8 MB): R × T_d is never held whole
DATA_BLOCK_STREAM = 1_000_000     # block b of the data samples draws from stream DATA_BLOCK_STREAM + b
FIT_CHUNK_POINTS = 1_000_000      # data + noise points of one chunk of exact fits (chunk_rows)
BASELINE_SECONDS_PER_POINT = 2.5e-8  # one core: mle_baseline's pass over the R × T_d data points
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)  # "10" and true are not numbers; 3 is a float

NoiseChoice = Literal[tuple(["data", *NOISE_FAMILIES])]  # type: ignore[valid-type]


class SweepCancelled(Exception):
    """Raised inside a sweep when its context says it was cancelled."""


def human_count(count: float) -> str:
    """'52,000' below a million, else '1.8e9' (as the knobs' bounds are read)."""
    if count < 1_000_000:
        return f"{count:,.0f}"
    mantissa, exponent = f"{count:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.2g} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Phase:
    """One stage of a sweep and the memory it holds at its peak, with what drives it in words
    ('sample_size × (1 + N_r) = 2.0e6 points of one repetition's fit') and the knobs that lower it."""
    bytes: float
    driver: str
    knobs: tuple[str, ...]


@dataclass(frozen=True)
class SweepCost:
    """A sweep's cost predicted from its config alone, before anything is allocated.

    peak_bytes: the most memory the sweep holds at one moment above the process's own (Python and
    torch, ~250 MB): the largest of its phases, which never overlap. seconds: roughly, on one core of
    the 2-core reference VM (more cores or a GPU: less). model_steps: what it counts against
    NCE_MAX_STEPS, in its progress unit: Adam steps × models, or one per model fitted exactly."""
    peak_bytes: float
    seconds: float
    model_steps: int
    driver: str                # what drives the peak, in words, and the knobs that lower it
    knobs: tuple[str, ...]
    steps_driver: str          # how model_steps is counted, in words, and the knobs that lower it
    steps_knobs: tuple[str, ...]

    @classmethod
    def of(cls, phases: list[Phase], seconds: float, model_steps: int, steps_driver: str,
           steps_knobs: tuple[str, ...]) -> "SweepCost":
        peak = max(phases, key=lambda phase: phase.bytes)
        return cls(peak.bytes, seconds, model_steps, peak.driver, peak.knobs, steps_driver, steps_knobs)

    def over(self, limit_mb: float, allowed: str) -> Optional[str]:
        """The refusal when the predicted peak is over limit_mb, naming what drives it and the knobs that
        lower it; else None. allowed: who sets the bound, e.g. 'this server allows 2048 MB per sweep'."""
        if self.peak_bytes <= limit_mb * MB:
            return None
        fix = f"lower {knob_list(self.knobs)}" if self.knobs else "no knob of this experiment lowers it"
        return f"{self.driver} need ~{human_bytes(self.peak_bytes)}; {allowed}: {fix}"

    def steps_over(self, left: int, allowed: str) -> Optional[str]:
        """The refusal when the sweep's model-steps are more than `left`; else None."""
        if self.model_steps <= left:
            return None
        return f"{self.steps_driver} = {self.model_steps:,} model-steps; {allowed}: lower {knob_list(self.steps_knobs)}"

    def summary(self) -> str:
        return (f"predicted: ~{human_bytes(self.peak_bytes)} peak memory (above the process's own), "
                f"~{human_seconds(self.seconds)} on one core, {self.model_steps:,} model-steps")

    def public(self) -> dict:
        """As sweep_started carries it."""
        return {"memory_mb": self.peak_bytes / MB, "seconds": self.seconds, "model_steps": self.model_steps,
                "driver": self.driver}


@dataclass
class SweepContext:
    """How a running sweep talks to its caller: it reports, it does not talk (no I/O here)."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: Optional[Callable[[int, int], None]] = None  # (work done, work in all), in the experiment's units
    cancelled: Callable[[], bool] = lambda: False

    def check(self) -> None:
        """Raise SweepCancelled once the sweep was cancelled: heavy loops call this between chunks."""
        if self.cancelled():
            raise SweepCancelled()

    def report(self, done: int, total: int) -> None:
        self.check()
        if self.progress is not None:
            self.progress(done, total)


class NoiseSpec(BaseModel):
    """One noise distribution q of a 1-D experiment: "data" is q = p_d itself; any other family is
    placed by hand with noise_loc and noise_scale (its standard deviation), as in a run's config."""
    model_config = STRICT

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


def data_blocks(reps: int, sample_size: int) -> list[range]:
    """The rows of each block of the R data samples: ~DATA_BLOCK_POINTS points a block (one row at least)."""
    rows = max(1, min(reps, DATA_BLOCK_POINTS // sample_size))
    return [range(start, min(reps, start + rows)) for start in range(0, reps, rows)]


def block_data(seed: int, block: int, rows: int, sample_size: int, device: torch.device) -> torch.Tensor:
    """(rows, T_d) draws from N(0, 1): block `block` of the R data samples, from a stream of its own, so
    that any block can be drawn again, alone, with the same numbers."""
    return sample_rows(standard_normal(), rows, sample_size,
                       stream_generator(seed, DATA_BLOCK_STREAM + block, device))


def data_chunks(seed: int, reps: int, sample_size: int, points_per_row: int, noise: Density,
                device: torch.device, check: Callable[[], None]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The R data samples of an estimator experiment as (x (r, T_d), log q(x) (r, T_d)) chunks of rows,
    r sized by chunk_rows for fits of `points_per_row` points each. Every setting of a sweep sees the same
    samples (common random numbers: the curves compare settings, not luck); they are drawn again block
    by block for each setting, never held whole (R × T_d reaches 1e9 points, 8 GB)."""
    for block, rows in enumerate(data_blocks(reps, sample_size)):
        check()
        x_data = block_data(seed, block, len(rows), sample_size, device)  # (b, T)
        log_q_data = log_prob_rows(noise, x_data)
        chunk = chunk_rows(points_per_row, len(rows))
        for start in range(0, len(rows), chunk):
            yield x_data[start:start + chunk], log_q_data[start:start + chunk]


def mle_baseline(seed: int, reps: int, sample_size: int, device: torch.device, check: Callable[[], None]) -> float:
    """The MLE's T_d·MSE(λ̂)/CR on the R data samples: the yardstick every point of a sweep shares
    (its distance from 1 is the samples' luck)."""
    ratios = torch.empty(reps, dtype=torch.float64)  # filled in place: no small tensor left between big freed ones
    for block, rows in enumerate(data_blocks(reps, sample_size)):
        check()
        x_data = block_data(seed, block, len(rows), sample_size, device)  # (b, T)
        ratios[rows.start:rows.stop] = sample_size * (1.0 / (x_data ** 2).mean(1) - 1.0) ** 2 / CRAMER_RAO
    return mean_ci(ratios)[0]


def data_bytes(reps: int, sample_size: int) -> float:
    """Peak bytes of one block of the data samples with its log q (float64 each, and a temporary)."""
    rows = len(data_blocks(reps, sample_size)[0])
    return 24.0 * rows * sample_size


def fit_chunk_points(points_per_row: int, reps: int, sample_size: int) -> int:
    """Points in the largest chunk of fits data_chunks makes (one row at least: a fit is never split)."""
    rows = len(data_blocks(reps, sample_size)[0])
    return chunk_rows(points_per_row, rows) * points_per_row


def estimates(reps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """λ̂ (R,) float64 and converged (R,) of a point's fits, on the CPU, filled chunk by chunk in place (lists
    of small per-chunk tensors between the big freed ones kept glibc's heap from shrinking: 1.5 GB)."""
    return torch.full((reps,), math.nan, dtype=torch.float64), torch.zeros(reps, dtype=torch.bool)


def lambda_summary(lam_hat: torch.Tensor, converged: torch.Tensor, sample_size: int) -> dict:
    """A point's numbers from R estimates λ̂ (R,): T_d·MSE/CR with its interval, over the converged fits."""
    lam_hat, converged = lam_hat.cpu(), converged.cpu() & torch.isfinite(lam_hat.cpu())
    error = lam_hat[converged] - 1.0
    measured, ci = mean_ci(sample_size * error ** 2 / CRAMER_RAO)
    failed = int((~converged).sum())
    point = {"measured": measured, "ci": ci, "reps": int(converged.sum()), "failed": failed,
             "bias": float(error.mean())}
    if failed:
        point["note"] = (f"{failed} of {lam_hat.numel()} fits did not converge (or gave a non-finite λ̂): "
                         "left out of measured and ci")
    return point


NCE_DIVERGENCE = ("loss or parameters non-finite, the loss over 1000× its first value, or |log Ẑ − log Z| or KL "
                  "beyond 709")
LOSS_DIVERGENCE = "loss non-finite or over 1000× its first value"


def left_out_note(diverged: int, models: int, rules: str, cause: str) -> str:
    """A point's note when some of its models diverged (by `rules`, those of a live run) and were left out."""
    return f"{diverged} of {models} models diverged ({rules}, as a live run): left out of measured and ci; {cause}"


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


def chunk_rows(points_per_row: int, rows: int, budget: int = FIT_CHUNK_POINTS) -> int:
    """Rows per chunk so that a chunk holds about `budget` points: bounded memory, a cancel heard within a
    chunk (~0.2 s), and 15% faster than 4M-point chunks on the 2-core VM (their tensors fit the caches less)."""
    return max(1, min(rows, budget // max(1, points_per_row)))
