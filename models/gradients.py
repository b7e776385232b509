"""Population gradients of MLE and NCE at the current θ (the seed's eq. 11 against eq. 42–47).

    g_mle      = ∇θ [ −Σ p_d G Δ + log Z_θ ]
    g_nce(N_r) = ∇θ  −Σ Δ [ p_d log σ(h) + N_r q log σ(−h) ],  h = G − log Z_θ − log q − log N_r

with the normaliser held at its exact value (a constant), so N_r is the only difference from MLE.
θ is the trained network parameters (EnergyModel.network_parameters(): a frozen output bias is not in it).

What g_nce is in closed form. With log Ẑ := log Z_θ a constant, e^(G − log Ẑ) = p_θ, so σ(h) = p_θ/(p_θ + N_r q)
and 1 − σ(h) = w := N_r q / (p_θ + N_r q). Then

    ∂loss/∂G(x) = −Δ [ p_d (1 − σ(h)) − N_r q σ(h) ] = −Δ [ w p_d − N_r q (1 − w) ] = −Δ w (p_d − p_θ)

(N_r q (1 − w) = w p_θ), hence the formula the gradient panel shows:

    −g_nce = Σ_x Δ w(x) (p_d(x) − p_θ(x)) ∇θ G(x)                         (∇G, not ∇ log p_θ)

The seed's eq. 44 has ∇θ log p_θ = ∇G − ∇ log Z_θ in its place: that is the gradient when the logit is
built from the normalised p_θ, i.e. log Ẑ tied to log Z_θ(θ) and differentiated through. The two differ by
∇ log Z_θ · Σ_x Δ w (p_d − p_θ), which vanishes only as N_r → ∞ (w → 1, and Σ (p_d − p_θ) Δ = 0) or where
the seed sets Z_θ = 1 (∇ log Z_θ = 0). NCE trains log Ẑ as its own parameter, so the ∇G form is what NCE
does to θ; at small N_r the two can point apart (tests/models/test_gradients.py). As N_r → ∞ both → g_mle.

Every loss is a sum over cells of a function of G(x_c), so by the chain rule

    ∇θ loss_i = Σ_c v_ic ∇θ G(x_c),   v_ic = ∂loss_i/∂G(x_c)

The cotangents v come from autograd on the quadrature losses in float64 (cheap: elementwise in G);
the contraction with ∇θ G, the expensive part, runs in `dtype` (float64 by default; the Trainer's
2-D frames use float32, which moves cos and the norm ratio by ~1e-8, see the tests).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .energy import EnergyModel, MLPEnergy
from .objectives import population_mle_loss, population_nce_loss

NR_LADDER: list[float] = [float(v) for v in torch.logspace(-1, 3, 13, dtype=torch.float64)]  # 0.1 … 1000


def population_gradients(model: EnergyModel, points: torch.Tensor, log_cell: float, log_pd: torch.Tensor,
                         log_q: torch.Tensor, nr_values: list[float], dtype: torch.dtype = torch.float64,
                         between_chunks: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(g_mle (P,), g_nce (L, P)) as flat float64 vectors over θ.   points: (M, d) float64.
    dtype: precision of the contraction Σ_c v_ic ∇θ G(x_c); G and the cotangents are always float64.
    between_chunks: called between the heavy parts (the cotangents, then each layer's contraction); it
    may raise to abandon the work (the Trainer's raises Stopped once its session has gone)."""
    between_chunks = between_chunks or _carry_on
    v = loss_cotangents(model, points, log_cell, log_pd, log_q, nr_values)  # (1+L, M)
    between_chunks()
    flat = contract_with_gradients(model, points, v, dtype, between_chunks)  # (1+L, P)
    return flat[0], flat[1:]


def loss_cotangents(model: EnergyModel, points: torch.Tensor, log_cell: float, log_pd: torch.Tensor,
                    log_q: torch.Tensor, nr_values: list[float]) -> torch.Tensor:
    """v (1+L, M) float64: row 0 is ∂loss_mle/∂G(x_c), row 1+i is ∂loss_nce(N_r = nr_values[i])/∂G(x_c),
    with log Z_θ a constant in the NCE rows (held at its exact value) and a function of G in the MLE row."""
    params = {name: p.detach().double() for name, p in model.network_parameters(frozen=True).items()}
    with torch.no_grad():
        g = functional_call(model, params, (points,))  # (M,) float64
    log_z_true = torch.logsumexp(g, 0) + log_cell
    nr = torch.tensor(nr_values, dtype=torch.float64, device=points.device).unsqueeze(1)  # (L, 1)
    # each loss gets its own copy of G, so one backward of their sum leaves loss i's gradient in row i
    g_rows = g.expand(1 + len(nr_values), -1).clone().requires_grad_()  # (1+L, M)
    with torch.enable_grad():
        losses = torch.cat([population_mle_loss(g_rows[0], log_pd, log_cell).unsqueeze(0),
                            population_nce_loss(g_rows[1:], log_pd, log_q, log_z_true, nr, log_cell)])  # (1+L,)
        (v,) = torch.autograd.grad(losses.sum(), [g_rows])
    return v


def _carry_on() -> None:
    """The default `between_chunks`: never abandons."""


def contract_with_gradients(model: EnergyModel, points: torch.Tensor, v: torch.Tensor,
                            dtype: torch.dtype = torch.float64,
                            between_chunks: Callable[[], None] = _carry_on) -> torch.Tensor:
    """Σ_c v_ic ∇θ G(x_c) for each row of v (R, M) -> (R, P) float64, flat over θ in
    network_parameters() order.   points: (M, d). between_chunks: as in population_gradients."""
    if isinstance(model, MLPEnergy):
        return _mlp_contraction(model, points, v, dtype, between_chunks)
    # any other model: one batched backward, row i of v as the output's cotangent
    theta = model.network_parameters()
    params = {name: p.detach().to(dtype).requires_grad_(name in theta)
              for name, p in model.network_parameters(frozen=True).items()}
    with torch.enable_grad():
        g = functional_call(model, params, (points.to(dtype),))  # (M,)
        grads = torch.autograd.grad(g, [params[name] for name in theta], grad_outputs=v.to(dtype),
                                    is_grads_batched=True)
    return torch.cat([gr.reshape(v.shape[0], -1) for gr in grads], 1).double()


def _mlp_contraction(model: MLPEnergy, points: torch.Tensor, v: torch.Tensor, dtype: torch.dtype,
                     between_chunks: Callable[[], None] = _carry_on) -> torch.Tensor:
    """contract_with_gradients for the MLP, layer by layer, with one ordinary backward.

    G(x_c) depends on x_c alone and the backward is linear in its cotangent, so the backward signal of
    row i at a linear layer's output is v_ic δ_c, with δ_c = ∂G(x_c)/∂(layer output) from a backward of
    Σ_c G(x_c). With h_c the layer's input:   ∂/∂W = Σ_c v_ic δ_c h_cᵀ,   ∂/∂b = Σ_c v_ic δ_c.
    (A batched backward would push all R rows through every layer; this pushes one.)"""
    v = v.to(dtype)
    x = points.to(dtype)  # (M, d)
    inputs, outputs, linears = [], [], []
    with torch.enable_grad():
        for layer in [*model.features, model.head]:
            if isinstance(layer, nn.Linear):
                inputs.append(x)
                x = F.linear(x, layer.weight.detach().to(dtype), layer.bias.detach().to(dtype))
                if not x.requires_grad:
                    x.requires_grad_()  # the first layer's output starts the graph
                outputs.append(x)
                linears.append(layer)
            else:
                x = layer(x)  # an elementwise activation
        deltas = torch.autograd.grad(x.sum(), outputs)  # each (M, out)
    by_param = {}
    for layer, h, delta in zip(linears, inputs, deltas):
        between_chunks()  # each layer's sum is R·M·out·in multiply-adds
        by_param[layer.weight] = _weighted_outer_sum(v, delta, h.detach())  # (R, out, in)
        by_param[layer.bias] = v @ delta  # (R, out)
    rows = v.shape[0]
    return torch.cat([by_param[p].reshape(rows, -1) for p in model.network_parameters().values()], 1).double()


def _weighted_outer_sum(v: torch.Tensor, delta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Σ_c v[r, c] delta[c, :] h[c, :]ᵀ -> (R, O, I).   v: (R, M), delta: (M, O), h: (M, I).
    One matrix product; v scales the narrower of delta and h, so the scaled copy stays small."""
    rows, cells = v.shape
    out_width, in_width = delta.shape[1], h.shape[1]
    if in_width <= out_width:
        scaled = (v.T.contiguous().unsqueeze(2) * h.unsqueeze(1)).reshape(cells, rows * in_width)  # (M, R·I)
        return (delta.T @ scaled).reshape(out_width, rows, in_width).transpose(0, 1)
    scaled = (v.unsqueeze(1) * delta.T.contiguous().unsqueeze(0)).reshape(rows * out_width, cells)  # (R·O, M)
    return (scaled @ h).reshape(rows, out_width, in_width)


def compare(g_mle: torch.Tensor, g_nce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos(g_nce, g_mle) and ‖g_nce‖/‖g_mle‖ for each row of g_nce (L, P) -> (L,), (L,)."""
    mle_norm = g_mle.norm().clamp_min(1e-300)
    nce_norm = g_nce.norm(dim=1)
    cos = (g_nce @ g_mle) / (nce_norm.clamp_min(1e-300) * mle_norm)
    return cos, nce_norm / mle_norm


def noise_weight(log_p: torch.Tensor, log_q: torch.Tensor, nr: float) -> torch.Tensor:
    """w(x) = N_r q / (p_θ + N_r q) = σ(log N_r q − log p_θ): the factor that goes to 1 as N_r grows."""
    return torch.sigmoid(torch.log(torch.as_tensor(nr, dtype=log_p.dtype)) + log_q - log_p)
