"""How much of the data NCE's noise actually reaches: `noise_coverage`.

    noise_coverage = ∫ p_d(x) · 1[ N_r q(x) ≥ ε p_d(x) ] dx,      ε = COVERAGE_EPS = 0.01

the share of the data's mass where the noise, N_r times as much of it, is at least 1% of the data.

Why this and not the overlap ∫ min(p_d, q): NCE's gradient at x is w (p_d − p_θ) ∇G with
w = N_r q / (p_θ + N_r q) (models/gradients.py). Where N_r q < ε p_d, w < ε at the answer p_θ = p_d: the
data there pulls on θ with under 1% of MLE's force, and the classifier sees (almost) no noise to tell
apart, so nothing there constrains p_θ. How much q and p_d overlap does not matter: a broad q
(N(0, 10²) on the bimodal preset: overlap 0.26) is everywhere well above ε p_d / N_r where the data is,
and NCE learns fine; a q parked next to the data (lesson 4, N(7, 1)) overlaps a little and reaches
almost none of it. N_r is in the test because it scales the noise term of the loss exactly like q.

The indicator, not a smooth weight: E_{p_d}[1 − w] would be 1/2 for q = p_d at N_r = 1, a perfect
noise. By quadrature on the grid (box-limited, like every integral in the frames).
"""
from __future__ import annotations

import math

import torch

COVERAGE_EPS = 0.01   # "negligible": the noise term below 1% of the data term
COVERAGE_WARN = 0.95  # the page warns when more than 5% of the data's mass is out of the noise's reach


def noise_coverage(log_pd: torch.Tensor, log_q: torch.Tensor, nr: float, eps: float = COVERAGE_EPS) -> float:
    """Σ_c p_d 1[N_r q ≥ ε p_d] / Σ_c p_d over the grid's cells (log_pd, log_q: (M,)): the integral above as a
    share of the data's mass in the box (which is within 1e-3 of 1). Cells where q = 0 count as uncovered."""
    reached = (math.log(nr) + log_q) >= (math.log(eps) + log_pd)  # (M,) in log space: no underflow
    p_d = log_pd.exp()
    total = p_d.sum()
    if float(total) <= 0:
        return 0.0
    return float(torch.where(reached, p_d, torch.zeros_like(p_d)).sum() / total)
