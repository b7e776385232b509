"""Energy models: an unnormalised log density log u_θ(x) = G(x; θ), plus the learned normaliser.

The seed's picture: features f(x; θ_f) from an MLP, then a linear layer w gives one scalar
G(x; θ) = wᵀ f(x; θ_f) + b, the logit. p_θ(x) = exp(G(x)) / Z_θ.

`log_z_est` is a separate scalar (NCE's c = −log Ẑ, sign flipped): it is *not* part of θ for the
gradient comparison. With learn_log_z=False it stays at 0 (the seed's Z_θ = 1 self-normalisation).

One free constant, never two. p_θ does not depend on b, and every objective sees b only through
G − log Ẑ (NCE) or not at all (MLE: −mean G + log Z_θ; InfoNCE: a softmax over G − log q). Under MLE
and InfoNCE b's true gradient is 0, yet Adam, dividing the rounding noise of that 0 by its own scale,
moves it by ~lr per step (log Z_θ drifts with it: 0.1–0.3 in 200 steps). Next to a learned log Ẑ it is
a redundant copy of −log Ẑ (their gradients are equal and opposite). So b is trained only where it is
the one constant the loss needs: NCE with log Ẑ held at 0, where G itself must integrate to one
(`offset_is_free`). Elsewhere b is frozen (and not part of θ): held at 0 from the start, or at its
value when a live change freezes it (b does not change p_θ, so freezing it leaves the model as it was).
(The frame-to-frame wobble of log Z_θ in an NCE run is not this: it is as large under MLE and with log Ẑ
held, the minibatch noise of every parameter's Adam step; frames show the average θ̄ of models/averaging.py,
which removes it.)
"""
from __future__ import annotations

import torch
from torch import nn


def offset_is_free(method: str, learn_log_z: bool) -> bool:
    """Whether G's additive constant (the output layer's bias) is trained: only NCE with log Ẑ held
    at 0 needs it; MLE and InfoNCE are blind to it and a learned log Ẑ already is that constant."""
    from .methods import METHODS  # methods.py builds these models
    return METHODS[method].learns_log_z and not learn_log_z


class EnergyModel(nn.Module):
    def __init__(self, learn_log_z: bool):
        super().__init__()
        self.log_z_est = nn.Parameter(torch.zeros(()), requires_grad=learn_log_z)

    def network_parameters(self, frozen: bool = False) -> dict[str, torch.Tensor]:
        """θ: the trained parameters except log_z_est, by name (for torch.func.functional_call);
        frozen=True adds the frozen ones (all that G needs to be evaluated)."""
        return {name: p for name, p in self.named_parameters()
                if name != "log_z_est" and (frozen or p.requires_grad)}

    def set_objective(self, method: str, learn_log_z: bool) -> list[nn.Parameter]:
        """Make exactly the parameters this objective can identify trainable; returns those that this
        call froze (an optimiser should forget their state)."""
        self.log_z_est.requires_grad_(learn_log_z)
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B,) G(x; θ)
        raise NotImplementedError


class MLPEnergy(EnergyModel):
    """G(x) = wᵀ f(x; θ_f) + b with f an MLP of `depth` hidden layers of width `hidden` (SiLU, so
    the learned density is smooth). b is trained only when `offset_is_free(method, learn_log_z)`;
    otherwise it is frozen at 0 (see the module docstring)."""

    def __init__(self, dim: int, hidden: int, depth: int, learn_log_z: bool, method: str = "nce"):
        super().__init__(learn_log_z)
        layers: list[nn.Module] = []
        width_in = dim
        for _ in range(depth):
            layers += [nn.Linear(width_in, hidden), nn.SiLU()]
            width_in = hidden
        self.features = nn.Sequential(*layers)  # θ_f
        self.head = nn.Linear(hidden, 1)  # w, and the bias b: trained only where it is the one free constant
        self.set_objective(method, learn_log_z)
        if not self.head.bias.requires_grad:
            with torch.no_grad():
                self.head.bias.zero_()

    def set_objective(self, method: str, learn_log_z: bool) -> list[nn.Parameter]:
        super().set_objective(method, learn_log_z)
        was_trained = self.head.bias.requires_grad
        self.head.bias.requires_grad_(offset_is_free(method, learn_log_z))
        return [self.head.bias] if was_trained and not self.head.bias.requires_grad else []

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


def build_energy(model: str, dim: int, hidden: int, depth: int, learn_log_z: bool,
                 method: str = "nce") -> EnergyModel:
    if model == "gaussian":
        return GaussianEnergy(dim, learn_log_z)
    return MLPEnergy(dim, hidden, depth, learn_log_z, method)
