"""MLE's normaliser on a large quadrature grid, chunk by chunk, so heavy steps can be abandoned.

    loss(θ)   = −mean_b G(x_b) + log Z_θ,        log Z_θ = logsumexp_c G(x_c) + log Δ
    ∇θ log Z_θ = Σ_c w_c ∇θ G(x_c),              w = softmax_c G(x_c)   (Σ_c w_c = 1)

One forward over all M cells (and its backward) holds every cell's graph at once and cannot be
interrupted: at 512² cells and a 256-wide, 4-deep MLP that is one call of tens of seconds. Here each
chunk of cells gets its own forward and backward, and `between_chunks` runs between two chunks (the
Trainer's raises Stopped once its session has gone).

One pass (an online softmax): with m the largest G seen so far and S = Σ_c e^(G_c − m) over the cells
seen so far, each chunk adds Σ_{c∈chunk} e^(G_c − m) ∇θ G(x_c) to an accumulator; when a chunk raises
m to m', the accumulator and S are scaled by e^(m − m'). After the last chunk accumulator / S is
Σ_c w_c ∇θ G(x_c) exactly, and log Z_θ = m + log S + log Δ. (A first no-grad pass for log Z followed
by a second pass with weights w costs 4 model passes per cell, this 3, the same as the fused loss.)
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .grid import Grid


def accumulate_log_z_gradient(model: nn.Module, grid: Grid, chunk: int,
                              between_chunks: Callable[[], None]) -> torch.Tensor:
    """log Z_θ on `grid` as a detached scalar (the model's dtype), and ∇θ log Z_θ added to the .grad
    of every parameter of `model` that G depends on. `chunk`: cells per forward/backward.
    If `between_chunks` raises, no .grad has been touched."""
    params = [p for p in model.parameters() if p.requires_grad]
    sums: list[torch.Tensor | None] = [None] * len(params)  # Σ e^(G_c − m) ∇θ G(x_c), each like its parameter
    shift, total = -math.inf, 0.0  # m and S
    dtype = None
    for index, points in enumerate(grid.points.split(chunk)):  # (chunk, d)
        if index:
            between_chunks()
        with torch.enable_grad():
            g = model(points)  # (chunk,)
        dtype = g.dtype
        g_max = float(g.detach().max())
        if g_max > shift:  # rescale what is summed so far to the new largest G
            scale = math.exp(shift - g_max)
            total *= scale
            for s in sums:
                if s is not None:
                    s.mul_(scale)
            shift = g_max
        weights = torch.exp(g.detach() - shift)  # (chunk,) in (0, 1]
        total += float(weights.sum(dtype=torch.float64))
        grads = torch.autograd.grad(g, params, grad_outputs=weights, allow_unused=True)
        for i, grad in enumerate(grads):
            if grad is not None:
                sums[i] = grad if sums[i] is None else sums[i].add_(grad)
    for p, s in zip(params, sums):
        if s is None:  # a parameter G does not use (log_z_est under MLE): its .grad stays as it was
            continue
        s.div_(total)
        if p.grad is None:
            p.grad = s
        else:
            p.grad.add_(s)
    log_total = math.log(total) if total > 0 else math.nan  # NaN or ±inf in G: the caller's divergence check
    return torch.tensor(shift + log_total + grid.log_cell, dtype=dtype, device=grid.points.device)


def raise_when(stop: Callable[[], bool], error: type[Exception]) -> Callable[[], None]:
    """A `between_chunks` callback: raises `error` once `stop()` returns True."""
    def check() -> None:
        if stop():
            raise error()
    return check
