"""The bandwidth of the kernel density estimate that stands in for p_d on uploaded data.

Scott's rule, h_k = std_k · n^(−1/(d+4)) per axis, is right for one Gaussian blob and far too wide
for clustered data: the KDE then smears the clusters, and KL(KDE ‖ p_θ) *rises* as p_θ fits the
clusters the data really has. So the bandwidth is chosen by the data: likelihood cross-validation,

    h = s* · h_Scott,   s* = argmax_s  (1/m) Σ_i log [ 1/(m−1) Σ_{j≠i} N(x_i; x_j, diag (s h_Scott(m))²) ]

the leave-one-out log-likelihood on a subsample of m ≤ CV_POINTS points, over the log grid
CV_FACTORS = 2^(−5 … 1) in thirds of an octave (searched coarse to fine: the octaves, then the thirds
beside the best one; the score is unimodal in s in practice). Scott's rate carries s* from m points to all n:
s* · h_Scott(m) · (m/n)^(1/(d+4)) = s* · h_Scott(n). The scale factor keeps Scott's ratio between the
axes.

Floor: h_k ≥ range_k / 100 (range: the 0.1%–99.9% spread of the samples). The quadrature box is
1.5 ranges wide, so at the default 128 cells a kernel is at least ~0.85 cells wide and the midpoint rule
still integrates it to ~1e-6; narrower kernels (CV's answer for duplicated or rounded values) would make
p_d spikes the grid cannot see.
"""
from __future__ import annotations

import math

import torch

CV_POINTS = 600  # subsample for the leave-one-out sums: m² pairs per factor tried (10 factors tried)
CV_FACTORS = [2.0 ** (k / 3) for k in range(-15, 4)]  # s: 1/32 … 2 times Scott's bandwidth
RANGE_FLOOR = 1 / 100  # h_k ≥ this share of the samples' 0.1%–99.9% range


def scott_bandwidth(samples: torch.Tensor) -> torch.Tensor:
    """h_k = std_k · n^(−1/(d+4)) per axis.   samples: (n, d) -> (d,)"""
    n, d = samples.shape
    return samples.std(0).clamp_min(1e-6) * n ** (-1.0 / (d + 4))


def loo_log_likelihood(samples: torch.Tensor, bandwidth: torch.Tensor) -> float:
    """(1/n) Σ_i log [ 1/(n−1) Σ_{j≠i} N(x_i; x_j, diag h²) ]: the leave-one-out score of a Gaussian KDE.
    samples: (n, d), bandwidth: (d,)."""
    return float(_loo_scores(samples, bandwidth / scott_bandwidth(samples), [1.0])[0])


def cv_bandwidth(samples: torch.Tensor, points: int = CV_POINTS) -> torch.Tensor:
    """The bandwidth (d,) by leave-one-out likelihood cross-validation (module docstring), float64."""
    samples = samples.to(torch.float64)
    n, d = samples.shape
    subsample = samples
    if n > points:  # a fixed subsample: the same data always gets the same bandwidth
        subsample = samples[torch.randperm(n, generator=torch.Generator().manual_seed(0))[:points]]
    distances = _scaled_distances(subsample, torch.ones(d, dtype=torch.float64))
    octaves = list(range(0, len(CV_FACTORS), 3))  # indices of 2^-5, 2^-4, …, 2^1
    at = octaves[int(torch.argmax(_scores_from(*distances, [CV_FACTORS[i] for i in octaves])))]
    near = [i for i in (at - 1, at, at + 1) if 0 <= i < len(CV_FACTORS)]
    best = CV_FACTORS[near[int(torch.argmax(_scores_from(*distances, [CV_FACTORS[i] for i in near])))]]
    quantiles = torch.quantile(samples, torch.tensor([0.001, 0.999], dtype=torch.float64), dim=0)  # (2, d)
    floor = (quantiles[1] - quantiles[0]).clamp_min(1e-6) * RANGE_FLOOR
    return torch.maximum(best * scott_bandwidth(samples), floor)


def _loo_scores(samples: torch.Tensor, scale: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """Leave-one-out mean log-likelihood for each bandwidth factor · scale · h_Scott(samples) -> (F,).
    samples: (m, d); scale: (d,) per-axis multiplier of Scott's bandwidth."""
    return _scores_from(*_scaled_distances(samples, scale), factors)


def _scaled_distances(samples: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """(r² (m, m) between samples in units of the base bandwidth scale · h_Scott, with +∞ on the diagonal
    (leave-one-out), log Π_k base_k, and d)."""
    base = scale * scott_bandwidth(samples)  # (d,)
    z = samples / base  # (m, d)
    r2 = torch.cdist(z, z).square()  # (m, m)
    r2.fill_diagonal_(math.inf)  # leave x_i out of its own sum
    return r2, float(torch.log(base).sum()), samples.shape[1]


def _scores_from(r2: torch.Tensor, log_base: float, d: int, factors: list[float]) -> torch.Tensor:
    """The leave-one-out mean log-likelihood (F,) for each factor s, from _scaled_distances."""
    m = r2.shape[0]
    scores = []
    for s in factors:
        log_kernel = torch.logsumexp(-0.5 * r2 / s ** 2, 1)  # (m,)
        log_density = log_kernel - math.log(m - 1) - d * math.log(s) - log_base - 0.5 * d * math.log(2 * math.pi)
        scores.append(log_density.mean())
    return torch.stack(scores)
