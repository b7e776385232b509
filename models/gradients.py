"""Population gradients of MLE and NCE at the current θ (the seed's eq. 11 against eq. 42–47).

    g_mle      = ∇θ [ −Σ p_d G Δ + log Z_θ ]
    g_nce(N_r) = ∇θ  −Σ Δ [ p_d log σ(h) + N_r q log σ(−h) ],  h = G − log Z_θ − log q − log N_r

with the normaliser held at its exact value (a constant), so N_r is the only difference from MLE.
The seed's closed form, −g_nce = Σ Δ w (p_d − p_θ) ∇G with w = N_r q / (p_θ + N_r q), is the test
oracle; as N_r → ∞, w → 1 and g_nce → g_mle. Computed in float64 by autograd on the quadrature loss.
"""
from __future__ import annotations

import torch
from torch.func import functional_call

from .energy import EnergyModel
from .objectives import population_mle_loss, population_nce_loss

NR_LADDER: list[float] = [float(v) for v in torch.logspace(-1, 3, 13, dtype=torch.float64)]  # 0.1 … 1000


def population_gradients(model: EnergyModel, points: torch.Tensor, log_cell: float, log_pd: torch.Tensor,
                         log_q: torch.Tensor, nr_values: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(g_mle (P,), g_nce (L, P)) as flat float64 vectors over θ.   points: (M, d) float64."""
    params = {name: p.detach().double().requires_grad_() for name, p in model.network_parameters().items()}
    g = functional_call(model, params, (points,))  # (M,) float64
    log_z_true = (torch.logsumexp(g, 0) + log_cell).detach()
    nr = torch.tensor(nr_values, dtype=torch.float64, device=points.device).unsqueeze(1)  # (L, 1)
    losses = torch.cat([population_mle_loss(g, log_pd, log_cell).unsqueeze(0),
                        population_nce_loss(g, log_pd, log_q, log_z_true, nr, log_cell)])  # (1+L,)
    # one batched backward: row i of the identity picks loss i
    eye = torch.eye(losses.shape[0], dtype=torch.float64, device=points.device)
    grads = torch.autograd.grad(losses, list(params.values()), grad_outputs=eye, is_grads_batched=True)
    flat = torch.cat([gr.reshape(losses.shape[0], -1) for gr in grads], 1)  # (1+L, P)
    return flat[0], flat[1:]


def compare(g_mle: torch.Tensor, g_nce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos(g_nce, g_mle) and ‖g_nce‖/‖g_mle‖ for each row of g_nce (L, P) -> (L,), (L,)."""
    mle_norm = g_mle.norm().clamp_min(1e-300)
    nce_norm = g_nce.norm(dim=1)
    cos = (g_nce @ g_mle) / (nce_norm.clamp_min(1e-300) * mle_norm)
    return cos, nce_norm / mle_norm


def noise_weight(log_p: torch.Tensor, log_q: torch.Tensor, nr: float) -> torch.Tensor:
    """w(x) = N_r q / (p_θ + N_r q) = σ(log N_r q − log p_θ): the factor that goes to 1 as N_r grows."""
    return torch.sigmoid(torch.log(torch.as_tensor(nr, dtype=log_p.dtype)) + log_q - log_p)
