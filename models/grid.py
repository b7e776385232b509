"""The quadrature grid: cell centres of a box in 1-D or 2-D, and the sums that replace integrals.

    ∫ f(x) dx ≈ Σ_cells f(x_c) Δ        (midpoint rule, Δ = cell area)
    log Z_θ   = logsumexp_c G(x_c) + log Δ

In 2-D the points are ordered row-major with y as the row: index = i_y · n + i_x, which is the
layout Plotly heatmaps take (z[row][col] = z[y][x]).
"""
from __future__ import annotations

import math

import torch


class Grid:
    def __init__(self, box: torch.Tensor, n: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.box = box.to(torch.float64)  # (d, 2)
        self.dim, self.n = box.shape[0], int(n)
        widths = self.box[:, 1] - self.box[:, 0]  # (d,)
        self.step = widths / self.n  # (d,) cell side per axis
        self.axes = [self.box[i, 0] + (torch.arange(self.n, dtype=torch.float64) + 0.5) * self.step[i]
                     for i in range(self.dim)]  # d tensors of (n,)
        self.log_cell = float(torch.log(self.step).sum())  # log Δ
        if self.dim == 1:
            points = self.axes[0].unsqueeze(1)
        else:
            ys, xs = torch.meshgrid(self.axes[1], self.axes[0], indexing="ij")
            points = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)
        self.points64 = points.to(device)  # (M, d) float64, for the gradient comparison
        self.points = points.to(device=device, dtype=dtype)  # (M, d) for training and frames

    @property
    def size(self) -> int:
        return self.points.shape[0]

    def log_integral(self, log_f: torch.Tensor) -> torch.Tensor:
        """log ∫ exp(log_f) over the box, from values at the cell centres (M,)."""
        return torch.logsumexp(log_f, 0) + self.log_cell

    def integral(self, f: torch.Tensor) -> torch.Tensor:
        return f.sum(0) * math.exp(self.log_cell)

    def kl(self, log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """KL(p ‖ q) = ∫ p (log p − log q), both normalised log densities at the cell centres."""
        p = log_p.exp()
        terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
        return self.integral(terms)

    def axes_lists(self) -> list[list[float]]:
        return [axis.tolist() for axis in self.axes]
