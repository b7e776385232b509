"""Densities with an exact log-density and seeded sampling.

Every class here is a normalised density on R^d with two methods:

    log_prob(x)        x: (B, d)  ->  (B,)   exact log p(x)
    sample(n, gen)     -> (n, d)             draws using the given torch.Generator only

Sampling never touches torch's global RNG, so two Trainers in two threads (two browser
sessions) stay reproducible from their own seeds. Parameters are stored in float64 and cast
to the input's dtype/device on use, so the same object serves float32 training and the
float64 gradient comparison.
"""
from __future__ import annotations

import math

import torch

from .bandwidth import cv_bandwidth

LOG_2PI = math.log(2 * math.pi)


def _like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.to(dtype=x.dtype, device=x.device)


def _randn(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(n, d, generator=gen, dtype=torch.float64, device=gen.device)


def _rand(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, d, generator=gen, dtype=torch.float64, device=gen.device)


class Density:
    dim: int

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B,)
        raise NotImplementedError

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:  # (n, d)
        raise NotImplementedError


class Gaussian(Density):
    """N(mean, cov) with a full covariance: log p = -½ (x-μ)ᵀ Σ⁻¹ (x-μ) - ½ log|2πΣ|."""

    def __init__(self, mean, cov):
        self.mean = torch.as_tensor(mean, dtype=torch.float64).reshape(-1)  # (d,)
        self.dim = self.mean.numel()
        self.cov = torch.as_tensor(cov, dtype=torch.float64).reshape(self.dim, self.dim)  # (d, d)
        self.chol = torch.linalg.cholesky(self.cov)
        # z = L⁻¹(x − μ) as one matmul with L⁻ᵀ: a batched triangular solve is ~10x slower on many points
        self.whiten = torch.linalg.inv(self.chol).T  # (d, d)
        self.log_norm = -0.5 * self.dim * LOG_2PI - torch.log(torch.diagonal(self.chol)).sum()

    def log_prob(self, x):
        z = (x - _like(self.mean, x)) @ _like(self.whiten, x)  # (B, d), in place from here: sweeps call
        squared = z.mul_(z).sum(-1) if self.dim > 1 else z.mul_(z).squeeze(-1)  # this on 10⁸ points
        return squared.mul_(-0.5).add_(_like(self.log_norm, x))

    def sample(self, n, gen):
        return torch.addmm(self.mean.to(gen.device), _randn(n, self.dim, gen), self.chol.to(gen.device).T)



class GaussianMixture(Density):
    """Σ_k w_k N(μ_k, diag σ_k²). Curved presets (moons, rings, spirals) are built from many of these,
    so their density is exact and integrates to 1."""

    def __init__(self, weights, means, stds):
        weights = torch.as_tensor(weights, dtype=torch.float64)
        self.log_weights = torch.log(weights / weights.sum())  # (K,)
        self.means = torch.as_tensor(means, dtype=torch.float64)  # (K, d)
        self.dim = self.means.shape[1]
        self.stds = torch.as_tensor(stds, dtype=torch.float64).expand_as(self.means).clone()  # (K, d)

    def log_prob(self, x):
        means, stds = _like(self.means, x), _like(self.stds, x)
        z = (x.unsqueeze(1) - means) / stds  # (B, K, d)
        comp = -0.5 * (z * z).sum(-1) - torch.log(stds).sum(-1) - 0.5 * self.dim * LOG_2PI  # (B, K)
        return torch.logsumexp(comp + _like(self.log_weights, x), dim=1)

    def sample(self, n, gen):
        probs = self.log_weights.exp().to(gen.device)
        idx = torch.multinomial(probs, n, replacement=True, generator=gen)  # (n,)
        return self.means.to(gen.device)[idx] + self.stds.to(gen.device)[idx] * _randn(n, self.dim, gen)


class Laplace(Density):
    """Product of independent Laplace(μ_i, b_i): log p = Σ_i [-|x_i-μ_i|/b_i - log 2b_i]."""

    def __init__(self, loc, scale):
        self.loc = torch.as_tensor(loc, dtype=torch.float64).reshape(-1)
        self.dim = self.loc.numel()
        self.scale = torch.as_tensor(scale, dtype=torch.float64).reshape(-1).expand(self.dim).clone()

    def log_prob(self, x):
        loc, scale = _like(self.loc, x), _like(self.scale, x)
        return (-(x - loc).abs() / scale - torch.log(2 * scale)).sum(-1)

    def sample(self, n, gen):
        u = _rand(n, self.dim, gen) - 0.5  # inverse CDF of the Laplace
        u = u.clamp(-0.5 + 1e-12, 0.5 - 1e-12)
        return self.loc.to(gen.device) - self.scale.to(gen.device) * torch.sign(u) * torch.log1p(-2 * u.abs())



class StudentT(Density):
    """Product of independent Student-t(ν, μ_i, s_i), ν an integer (sampled exactly as Z / sqrt(χ²_ν/ν))."""

    def __init__(self, loc, scale, df: int = 3):
        self.loc = torch.as_tensor(loc, dtype=torch.float64).reshape(-1)
        self.dim = self.loc.numel()
        self.scale = torch.as_tensor(scale, dtype=torch.float64).reshape(-1).expand(self.dim).clone()
        self.df = int(df)
        self.log_norm = (math.lgamma((self.df + 1) / 2) - math.lgamma(self.df / 2)
                         - 0.5 * math.log(self.df * math.pi))

    def log_prob(self, x):
        loc, scale = _like(self.loc, x), _like(self.scale, x)
        z = (x - loc) / scale
        per_axis = self.log_norm - torch.log(scale) - 0.5 * (self.df + 1) * torch.log1p(z * z / self.df)
        return per_axis.sum(-1)

    def sample(self, n, gen):
        normal = _randn(n, self.dim, gen)
        chi2 = (_randn(n * self.df, self.dim, gen) ** 2).reshape(n, self.df, self.dim).sum(1)
        return self.loc.to(gen.device) + self.scale.to(gen.device) * normal / torch.sqrt(chi2 / self.df)



class UniformBox(Density):
    """Uniform on the box [low, high]: log p = -Σ_i log(high_i - low_i) inside, -inf outside."""

    def __init__(self, low, high):
        self.low = torch.as_tensor(low, dtype=torch.float64).reshape(-1)
        self.high = torch.as_tensor(high, dtype=torch.float64).reshape(-1)
        self.dim = self.low.numel()
        self.log_volume = torch.log(self.high - self.low).sum()

    def log_prob(self, x):
        low, high = _like(self.low, x), _like(self.high, x)
        inside = ((x >= low) & (x <= high)).all(-1)
        value = -_like(self.log_volume, x)
        return torch.where(inside, value, torch.full_like(value.expand(x.shape[0]), -math.inf))

    def sample(self, n, gen):
        return self.low.to(gen.device) + (self.high - self.low).to(gen.device) * _rand(n, self.dim, gen)



class SkewNormal(Density):
    """1-D skew-normal: p(x) = (2/ω) φ(z) Φ(α z), z = (x-ξ)/ω."""

    dim = 1

    def __init__(self, loc: float, scale: float, alpha: float):
        self.loc, self.scale, self.alpha = float(loc), float(scale), float(alpha)

    def log_prob(self, x):
        z = ((x - self.loc) / self.scale).squeeze(-1)
        log_phi = -0.5 * z * z - 0.5 * LOG_2PI
        log_cdf = torch.special.log_ndtr(self.alpha * z)
        return math.log(2 / self.scale) + log_phi + log_cdf

    def sample(self, n, gen):
        delta = self.alpha / math.sqrt(1 + self.alpha ** 2)
        u0, u1 = _randn(n, 1, gen), _randn(n, 1, gen)
        return self.loc + self.scale * (delta * u0.abs() + math.sqrt(1 - delta ** 2) * u1)


class SmoothedCheckerboard(Density):
    """Equal mixture of uniform squares, each blurred by N(0, s²) per axis, so the density is smooth
    and exact: p(x) = Σ_k w_k Π_i [Φ((x_i-a_ki)/s) - Φ((x_i-b_ki)/s)] / (b_ki - a_ki)."""

    dim = 2

    def __init__(self, lows, side: float, blur: float):
        self.lows = torch.as_tensor(lows, dtype=torch.float64)  # (K, 2) lower-left corners
        self.side, self.blur = float(side), float(blur)

    def log_prob(self, x):
        lows = _like(self.lows, x)
        a = (x.unsqueeze(1) - lows) / self.blur  # (B, K, 2): (x - low)/s
        b = a - self.side / self.blur            #           (x - high)/s
        # Φ(a) - Φ(b) computed stably in log space: log Φ(a) + log(1 - exp(log Φ(b) - log Φ(a)))
        log_ca, log_cb = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
        log_mass = log_ca + torch.log(-torch.expm1((log_cb - log_ca).clamp(max=-1e-12)))
        comp = log_mass.sum(-1) - 2 * math.log(self.side)  # (B, K)
        return torch.logsumexp(comp, 1) - math.log(self.lows.shape[0])

    def sample(self, n, gen):
        k = self.lows.shape[0]
        idx = torch.randint(0, k, (n,), generator=gen, device=gen.device)
        corner = self.lows.to(gen.device)[idx]
        return corner + self.side * _rand(n, 2, gen) + self.blur * _randn(n, 2, gen)


class Twisted(Density):
    """A base density pushed through the twist T(x) = R(α|x|) x (rotate each circle by an angle that
    grows with its radius). T keeps area (its Jacobian determinant is 1), so p(x) = p_base(T⁻¹(x))
    exactly, with T⁻¹(x) = R(-α|x|) x."""

    dim = 2

    def __init__(self, base: Density, rate: float):
        self.base, self.rate = base, float(rate)

    @staticmethod
    def _rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        c, s = torch.cos(angle), torch.sin(angle)
        return torch.stack([c * x[:, 0] - s * x[:, 1], s * x[:, 0] + c * x[:, 1]], dim=1)

    def log_prob(self, x):
        radius = x.norm(dim=1)
        return self.base.log_prob(self._rotate(x, -self.rate * radius))

    def sample(self, n, gen):
        x = self.base.sample(n, gen)
        return self._rotate(x, self.rate * x.norm(dim=1))


class KernelDensity(Density):
    """Gaussian kernel density estimate of samples, p(x) = (1/n) Σ_j N(x; x_j, diag h²), with h chosen by
    leave-one-out likelihood cross-validation over multiples of Scott's rule (models/bandwidth.py)."""

    def __init__(self, samples: torch.Tensor):
        samples = samples.to(torch.float64)
        n, d = samples.shape
        self.dim = d
        self.samples = samples
        self.bandwidth = cv_bandwidth(samples)  # (d,)
        self.mixture = GaussianMixture(torch.ones(n), samples, self.bandwidth.expand(n, d))

    def log_prob(self, x):
        # chunk over query points to bound memory: (chunk, n, d)
        chunk = max(1, 2_000_000 // max(1, self.samples.shape[0]))
        return torch.cat([self.mixture.log_prob(part) for part in x.split(chunk)])

    def sample(self, n, gen):
        return self.mixture.sample(n, gen)
