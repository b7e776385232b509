"""Training objectives, tensor in / tensor out (so a batch of models can later share one call): pure
formulas. Which method uses which, and how, is models/methods.py.

Names follow docs/design.md §1: G = log u_θ(x), log_q = log q(x), nr = N_r = N_n / N_p.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

def mle_loss(g_data: torch.Tensor, log_z_true: torch.Tensor) -> torch.Tensor:
    """−mean_x log p_θ(x) = −mean G(x_data) + log Z_θ.   g_data: (B,)"""
    return -g_data.mean() + log_z_true


def nce_logit(g: torch.Tensor, log_z: torch.Tensor, log_q: torch.Tensor, nr) -> torch.Tensor:
    """h(x) = G(x) − log Ẑ − log q(x) − log N_r, the log-odds that x is data (seed eq. 20):
    P(C=1|x) = p_θ / (p_θ + N_r q) = σ(h)."""
    log_nr = torch.log(nr) if isinstance(nr, torch.Tensor) else math.log(nr)
    return g - log_z - log_q - log_nr


def nce_loss(g_pos, g_neg, log_q_pos, log_q_neg, log_z_est, nr: float) -> torch.Tensor:
    """−[ mean_pos log σ(h) + N_r · mean_neg log σ(−h) ]   (seed eq. 28 with the expectations as means).
    g_pos, log_q_pos: (B,) data;  g_neg, log_q_neg: (N_n,) noise, any N_n ≥ 1 (the N_r weight is explicit).
    With a leading model axis — (R, B), (R, N_n), log_z_est (R, 1) — it returns one loss per model (R,)."""
    h_pos = nce_logit(g_pos, log_z_est, log_q_pos, nr)
    h_neg = nce_logit(g_neg, log_z_est, log_q_neg, nr)
    return -(F.logsigmoid(h_pos).mean(-1) + nr * F.logsigmoid(-h_neg).mean(-1))


def infonce_loss(s_pos: torch.Tensor, s_neg: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of picking the positive among 1 + k candidates, scores s = G(x) − log q(x).
    s_pos: (B,), s_neg: (B, k). Adding a constant to G shifts every score alike: Z is not identified."""
    logits = torch.cat([s_pos.unsqueeze(1), s_neg], 1)  # (B, 1+k)
    return (torch.logsumexp(logits, 1) - s_pos).mean()


def cpc_loss(scores: torch.Tensor) -> torch.Tensor:
    """In-batch InfoNCE: scores[i, j] = f(x_i, y_j), positives on the diagonal.   scores: (B, B)
    mean_i [ logsumexp_j scores[i, j] − scores[i, i] ]; log B − loss ≤ I(x; y) in expectation.
    With a leading model axis, scores (R, B, B), it returns one loss per model (R,)."""
    return (torch.logsumexp(scores, -1) - torch.diagonal(scores, dim1=-2, dim2=-1)).mean(-1)


def population_mle_loss(g: torch.Tensor, log_pd: torch.Tensor, log_cell: float) -> torch.Tensor:
    """−Σ_c p_d G Δ + log Z_θ on the grid (the expectation over p_d by quadrature).   g, log_pd: (M,)"""
    return -(log_pd.exp() * g).sum() * math.exp(log_cell) + torch.logsumexp(g, 0) + log_cell


def population_nce_loss(g, log_pd, log_q, log_z, nr: torch.Tensor, log_cell: float) -> torch.Tensor:
    """−Σ_c Δ [ p_d log σ(h) + N_r q log σ(−h) ] for each N_r in `nr` (L, 1) -> (L,).
    Cells where q = 0 contribute no noise term (their h is +∞)."""
    h = nce_logit(g, log_z, log_q, nr)  # (L, M)
    q = log_q.exp()
    data_term = log_pd.exp() * F.logsigmoid(h)
    noise_term = torch.where(q > 0, nr * q * F.logsigmoid(-h), torch.zeros_like(h))
    return -(data_term + noise_term).sum(-1) * math.exp(log_cell)
