"""The CPC critic f(x, y) = g(x)ᵀ h(y): two MLP embeddings and a dot product (CPC's log-bilinear
score). For a batch of pairs the (B, B) score matrix costs two forward passes and one matmul, and
every other y in the batch is a negative for each x."""
from __future__ import annotations

import torch
from torch import nn

EMBEDDING = 16  # enough for the x·y and y² terms of the Gaussian's optimal critic


def _mlp(hidden: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width_in = 1
    for _ in range(depth):
        layers += [nn.Linear(width_in, hidden), nn.SiLU()]
        width_in = hidden
    return nn.Sequential(*layers, nn.Linear(width_in, EMBEDDING))


class PairCritic(nn.Module):
    def __init__(self, hidden: int, depth: int):
        super().__init__()
        self.embed_x = _mlp(hidden, depth)
        self.embed_y = _mlp(hidden, depth)

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """scores[i, j] = f(x_i, y_j).   x, y: (B, 1) -> (B, B)"""
        return self.embed_x(x) @ self.embed_y(y).T

    def pair_score(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f(x_i, y_i) for matched rows.   x, y: (M, 1) -> (M,)"""
        return (self.embed_x(x) * self.embed_y(y)).sum(-1)
