"""Noise families q(x) for NCE and InfoNCE: the registry keyed by the `noise` knob.

Each builder takes a location (d,), per-axis scale (d,), an optional full covariance (used when
the noise is fitted to the data) and the quadrature box, and returns a Density. NCE needs q > 0
wherever p_d > 0; `noise_coverage` measures how well that holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .densities import Density, Gaussian, GaussianMixture, Laplace, StudentT, UniformBox


@dataclass(frozen=True)
class NoiseFamily:
    description: str
    build: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor], Density]


def _gaussian(loc, scale, cov, box):
    return Gaussian(loc, cov if cov is not None else torch.diag(scale ** 2))


def _uniform(loc, scale, cov, box):
    if cov is not None:  # fitted: the whole quadrature box
        return UniformBox(box[:, 0], box[:, 1])
    half_width = scale * 3 ** 0.5  # same standard deviation as the other families
    return UniformBox(loc - half_width, loc + half_width)


def _mixture(loc, scale, cov, box):
    # a narrow core and a 3x wider shoulder: covers the tails without wasting every sample there
    means = torch.stack([loc, loc])
    stds = torch.stack([scale, 3 * scale])
    return GaussianMixture(torch.tensor([0.5, 0.5]), means, stds)


NOISE_FAMILIES: dict[str, NoiseFamily] = {
    "gaussian": NoiseFamily("Gaussian (full covariance when fitted to the data).", _gaussian),
    "laplace": NoiseFamily("Product of Laplace distributions: heavier tails than a Gaussian.",
                           lambda loc, scale, cov, box: Laplace(loc, scale / 2 ** 0.5)),
    "uniform": NoiseFamily("Uniform on a box (the whole quadrature box when fitted).", _uniform),
    "student_t": NoiseFamily("Student-t with 3 degrees of freedom: very heavy tails.",
                             lambda loc, scale, cov, box: StudentT(loc, scale / 3 ** 0.5, df=3)),
    "mixture": NoiseFamily("Half N(loc, scale²), half N(loc, (3·scale)²): a core with wide shoulders.", _mixture),
}


@dataclass(frozen=True)
class DataStats:
    """Moments of p_d that fitted noise uses; computed once per data set."""
    mean: torch.Tensor  # (d,)
    std: torch.Tensor   # (d,)
    cov: torch.Tensor   # (d, d)

    @classmethod
    def of(cls, data: Density) -> "DataStats":
        if isinstance(data, Gaussian):
            return cls(data.mean.clone(), torch.sqrt(torch.diagonal(data.cov)), data.cov.clone())
        xs = data.sample(100_000, torch.Generator().manual_seed(12345))  # (n, d)
        cov = torch.cov(xs.T).reshape(data.dim, data.dim)
        return cls(xs.mean(0), xs.std(0), cov + 1e-9 * torch.eye(data.dim, dtype=torch.float64))


def build_noise(family: str, stats: DataStats, box: torch.Tensor, fit: bool, loc: float, scale: float) -> Density:
    """q for the given family. fit=True: the data's mean and (co)variance; otherwise loc and scale on
    every axis. `scale` is the standard deviation of q per axis, whatever the family."""
    if fit:
        cov = stats.cov if family == "gaussian" else torch.diag(stats.std ** 2)
        return NOISE_FAMILIES[family].build(stats.mean, stats.std, cov, box)
    dim = stats.mean.numel()
    loc_vec = torch.full((dim,), float(loc), dtype=torch.float64)
    scale_vec = torch.full((dim,), float(scale), dtype=torch.float64)
    return NOISE_FAMILIES[family].build(loc_vec, scale_vec, None, box)
