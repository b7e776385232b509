"""Energy models: an unnormalised log density log u_θ(x) = G(x; θ), plus the learned normaliser.

The seed's picture: features f(x; θ_f) from an MLP, then a linear layer w gives one scalar
G(x; θ) = wᵀ f(x; θ_f) + b, the logit. p_θ(x) = exp(G(x)) / Z_θ.

`log_z_est` is a separate scalar (NCE's c = −log Ẑ, sign flipped): it is *not* part of θ for the
gradient comparison. With learn_log_z=False it stays at 0 (the seed's Z_θ = 1 self-normalisation).
"""
from __future__ import annotations

import torch
from torch import nn


class EnergyModel(nn.Module):
    def __init__(self, learn_log_z: bool):
        super().__init__()
        self.log_z_est = nn.Parameter(torch.zeros(()), requires_grad=learn_log_z)

    def network_parameters(self) -> dict[str, torch.Tensor]:
        """θ: every parameter except log_z_est, by name (for torch.func.functional_call)."""
        return {name: p for name, p in self.named_parameters() if name != "log_z_est"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B,) G(x; θ)
        raise NotImplementedError


class MLPEnergy(EnergyModel):
    """G(x) = wᵀ f(x; θ_f) + b with f an MLP of `depth` hidden layers of width `hidden` (SiLU, so
    the learned density is smooth)."""

    def __init__(self, dim: int, hidden: int, depth: int, learn_log_z: bool):
        super().__init__(learn_log_z)
        layers: list[nn.Module] = []
        width_in = dim
        for _ in range(depth):
            layers += [nn.Linear(width_in, hidden), nn.SiLU()]
            width_in = hidden
        self.features = nn.Sequential(*layers)  # θ_f
        self.head = nn.Linear(hidden, 1)  # w (and a bias)

    def forward(self, x):
        return self.head(self.features(x)).squeeze(-1)  # (B,)


class GaussianEnergy(EnergyModel):
    """log u(x) = −Σ_i λ_i (x_i − μ_i)² / 2, λ_i = exp(log_λ_i) > 0. Its exact normaliser is
    log Z = Σ_i ½ log(2π/λ_i), so MLE has the closed form μ = mean(x), λ = 1/var(x)."""

    def __init__(self, dim: int, learn_log_z: bool):
        super().__init__(learn_log_z)
        self.mu = nn.Parameter(torch.zeros(dim))
        self.log_precision = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return -0.5 * (self.log_precision.exp() * (x - self.mu) ** 2).sum(-1)  # (B,)


MODEL_KINDS: dict[str, str] = {
    "mlp": "The seed's network: MLP features, then a linear layer giving G(x).",
    "gaussian": "log u = −λ(x − μ)²/2 per axis: two parameters per axis, with closed-form answers.",
}


def build_energy(model: str, dim: int, hidden: int, depth: int, learn_log_z: bool) -> EnergyModel:
    if model == "gaussian":
        return GaussianEnergy(dim, learn_log_z)
    return MLPEnergy(dim, hidden, depth, learn_log_z)
