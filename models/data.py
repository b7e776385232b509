"""Data presets: the registry of named data densities p_d, each with an exact log-density.

Adding a preset is one entry in DATA_PRESETS. Validation, /api/schema and the page's menu all
read this dict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .densities import (Density, Gaussian, GaussianMixture, KernelDensity, Laplace, SkewNormal,
                        SmoothedCheckerboard, Twisted)


@dataclass(frozen=True)
class Preset:
    dim: int
    description: str
    build: Callable[[float], Density]  # argument: the config's `mi` (only correlated_gaussian uses it)


def _ring_mixture(radius: float, count: int, std: float, start: float = 0.0, end: float = 2 * math.pi):
    angles = torch.linspace(start, end, count + 1, dtype=torch.float64)[:-1] if end - start >= 2 * math.pi - 1e-9 \
        else torch.linspace(start, end, count, dtype=torch.float64)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1)


def _eight_gaussians(_mi: float) -> Density:
    means = _ring_mixture(2.0, 8, 0.0)
    return GaussianMixture(torch.ones(8), means, torch.full((8, 2), 0.2))


def _two_moons(_mi: float) -> Density:
    upper = _ring_mixture(1.0, 40, 0.0, 0.0, math.pi)
    lower = torch.stack([1.0 - upper[:, 0], 0.5 - upper[:, 1]], 1)
    means = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25], dtype=torch.float64)
    return GaussianMixture(torch.ones(80), means * 1.5, torch.full((80, 2), 0.12))


def _rings(_mi: float) -> Density:
    inner, outer = _ring_mixture(1.0, 24, 0.0), _ring_mixture(2.2, 48, 0.0)
    weights = torch.cat([torch.full((24,), 1 / 3 / 24), torch.full((48,), 2 / 3 / 48)])
    return GaussianMixture(weights, torch.cat([inner, outer]), torch.full((72, 2), 0.12))


def _spirals(_mi: float) -> Density:
    t = torch.linspace(0.25, 1.0, 40, dtype=torch.float64)
    angle = 3 * math.pi * t
    arm = torch.stack([2.5 * t * torch.cos(angle), 2.5 * t * torch.sin(angle)], 1)  # (40, 2)
    means = torch.cat([arm, -arm])
    return GaussianMixture(torch.cat([t, t]), means, torch.full((80, 2), 0.12))


def _checkerboard(_mi: float) -> Density:
    lows = [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0]
    return SmoothedCheckerboard(torch.tensor(lows, dtype=torch.float64), side=1.0, blur=0.05)


def _pinwheel(_mi: float) -> Density:
    arms = 5
    angles = torch.arange(arms, dtype=torch.float64) * 2 * math.pi / arms
    means = 1.5 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    # elongated along the radius before the twist: radial std 0.45, tangential 0.1
    base = _RotatedMixture(means, angles, radial_std=0.45, tangential_std=0.1)
    return Twisted(base, rate=0.8)


class _RotatedMixture(Density):
    """Equal mixture of Gaussians, each elongated along its own direction `angle`."""

    dim = 2

    def __init__(self, means, angles, radial_std: float, tangential_std: float):
        c, s = torch.cos(angles), torch.sin(angles)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (K, 2, 2)
        scales = torch.diag(torch.tensor([radial_std ** 2, tangential_std ** 2], dtype=torch.float64))
        self.components = [Gaussian(m, r @ scales @ r.T) for m, r in zip(means, rot)]

    def log_prob(self, x):
        comp = torch.stack([g.log_prob(x) for g in self.components], 1)  # (B, K)
        return torch.logsumexp(comp, 1) - math.log(len(self.components))

    def sample(self, n, gen):
        idx = torch.randint(0, len(self.components), (n,), generator=gen, device=gen.device)
        draws = torch.stack([g.sample(n, gen) for g in self.components], 1)  # (n, K, 2)
        return draws[torch.arange(n, device=gen.device), idx]


def correlation_for_mi(mi: float) -> float:
    """ρ of a standard bivariate Gaussian whose mutual information is `mi` nats: I = -½ log(1-ρ²)."""
    return math.sqrt(1.0 - math.exp(-2.0 * mi))


def _correlated_gaussian(mi: float) -> Density:
    rho = correlation_for_mi(mi)
    return Gaussian([0.0, 0.0], [[1.0, rho], [rho, 1.0]])


DATA_PRESETS: dict[str, Preset] = {
    "gaussian": Preset(1, "One Gaussian, N(0.5, 1): the easy case.", lambda mi: Gaussian([0.5], [[1.0]])),
    "bimodal": Preset(1, "Two Gaussians of unequal weight at -2 and 1.5.",
                      lambda mi: GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[0.6], [0.8]])),
    "laplace": Preset(1, "Laplace(0, 1): a sharp peak and heavy tails.", lambda mi: Laplace([0.0], [1.0])),
    "skewed": Preset(1, "Skew-normal with shape 4: a long right tail.", lambda mi: SkewNormal(-1.0, 1.5, 4.0)),
    "eight_gaussians": Preset(2, "Eight Gaussians on a circle of radius 2.", _eight_gaussians),
    "two_moons": Preset(2, "Two interleaved half-circles (a smooth mixture along each arc).", _two_moons),
    "rings": Preset(2, "Two concentric rings, radii 1 and 2.2.", _rings),
    "checkerboard": Preset(2, "Eight squares of a 4x4 checkerboard, edges blurred slightly.", _checkerboard),
    "spirals": Preset(2, "Two interleaved spiral arms.", _spirals),
    "pinwheel": Preset(2, "Five arms twisted into a pinwheel (an area-preserving twist of Gaussians).", _pinwheel),
    "correlated_gaussian": Preset(2, "Standard bivariate Gaussian whose correlation gives `mi` nats of "
                                     "mutual information (the CPC pairs).", _correlated_gaussian),
}

CUSTOM = "custom"  # data from uploaded samples; p_d is their kernel density estimate


def build_density(name: str, mi: float, samples: torch.Tensor | None = None) -> Density:
    if name == CUSTOM:
        if samples is None:
            raise ValueError("data: 'custom' needs samples (data_file or an upload)")
        return KernelDensity(samples)
    return DATA_PRESETS[name].build(mi)


def data_box(samples: torch.Tensor, margin: float = 0.25) -> torch.Tensor:
    """The quadrature box (d, 2): the 0.1%-99.9% range of the samples on each axis, widened by
    `margin` of its width on both sides, so the data's mass outside is negligible."""
    samples = samples.to(torch.float64)
    q = torch.quantile(samples, torch.tensor([0.001, 0.999], dtype=torch.float64), dim=0)  # (2, d)
    low, high = q[0], q[1]
    width = (high - low).clamp_min(1e-3)
    return torch.stack([low - margin * width, high + margin * width], 1)
