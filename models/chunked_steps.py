"""NCE's, InfoNCE's and CPC's training step over many points, chunk by chunk, so heavy steps can be
abandoned and their memory stays bounded.

Both losses are sums over independent pieces, so their gradients are sums of the pieces' gradients:

    NCE:      loss = −(1/B) Σ_b log σ(h(x_b)) − (N_r/N) Σ_n log σ(−h(y_n)),   h = G − log Ẑ − log q − log N_r
    InfoNCE:  loss = (1/B) Σ_b [ logsumexp(s_b0, s_b1 … s_bk) − s_b0 ],         s = G − log q

    CPC:      loss = (1/B) Σ_i [ logsumexp_j f(x_i, y_j) − f(x_i, y_i) ],     f(x, y) = g(x)ᵀ h(y)

(x_b data, y_n the N noise points; InfoNCE's row b is its positive and its own k negatives). One fused
forward over B + N points (InfoNCE: B·(1+k), up to 4,194,304 + 4,096) holds every point's graph at
once: ~11 KB a point at hidden 256, depth 4, i.e. tens of GB, and no look at a stop flag for minutes.
Here each chunk of points (InfoNCE: of whole rows) gets its own forward and backward, the pieces'
gradients are summed, and `between_chunks` runs between two chunks (the Trainer's raises Stopped once
its session has gone). As in chunked_mle.py, .grad is written only after the last chunk, so a chunk
that raises leaves every parameter's .grad as it was. The negatives come from an iterable, so the
caller can draw them chunk by chunk as well (they are not all in memory at once either).

CPC's cost is its B × B scores (B = 4,096: 16.8 million, ~400 MB with their gradients), not its
embeddings: rows of scores are made a chunk at a time from the two (B, E) embeddings, their gradients
with respect to the embeddings summed, and one backward through the embedding nets follows the last chunk.

The loss value (a detached scalar) is the same sum, so the divergence checks still read it.
"""
from __future__ import annotations

from itertools import chain
from typing import Callable, Iterable

import torch
from torch import nn

from .objectives import infonce_loss, nce_logit

# A chunk of a step holds ~points × hidden × depth activations: CHUNK_UNITS of them (4,096 points at
# hidden 256, depth 4: ~50 MB of graph and ~0.2-0.5 s of one core) between two looks at `stop`.
CHUNK_UNITS = 1 << 22
MIN_CHUNK_POINTS = 1_024
MAX_CHUNK_POINTS = 16_384  # a chunk of a narrow model: the fused path below this (every default step)
CPC_CHUNK_SCORES = 1 << 20  # scores of one chunk of CPC rows (4 MB): batch_size ≤ 1,024 keeps the fused step


def chunk_points(model: str, hidden: int, depth: int) -> int:
    """Points per forward/backward of one chunk of a step: CHUNK_UNITS / (hidden · depth), within
    [MIN_CHUNK_POINTS, MAX_CHUNK_POINTS] (a Gaussian energy model costs next to nothing per point)."""
    if model != "mlp":
        return MAX_CHUNK_POINTS
    return max(MIN_CHUNK_POINTS, min(MAX_CHUNK_POINTS, CHUNK_UNITS // (hidden * depth)))


class GradientSum:
    """Σ of the gradients of several loss pieces with respect to `params`, written to .grad at the end."""

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.sums: list[torch.Tensor | None] = [None] * len(params)  # each like its parameter

    def add(self, piece: torch.Tensor) -> None:
        """Add ∇ piece (a scalar with a graph) to the sums; the piece's graph is freed."""
        grads = torch.autograd.grad(piece, self.params, allow_unused=True)
        for i, grad in enumerate(grads):
            if grad is not None:
                self.sums[i] = grad if self.sums[i] is None else self.sums[i].add_(grad)

    def write(self) -> None:
        """Add the sums to the parameters' .grad (a parameter no piece used keeps its .grad)."""
        for p, s in zip(self.params, self.sums):
            if s is None:
                continue
            if p.grad is None:
                p.grad = s
            else:
                p.grad.add_(s)


def _trained(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def accumulate_nce_gradient(model: nn.Module, x_data: torch.Tensor, noise_chunks: Iterable[torch.Tensor],
                            negatives: int, log_q: Callable[[torch.Tensor], torch.Tensor], nr: float,
                            chunk: int, between_chunks: Callable[[], None]) -> torch.Tensor:
    """NCE's loss as a detached scalar, and its gradient added to the .grad of `model`'s trained
    parameters (log Ẑ = model.log_z_est among them when learned).
    x_data: (B, d); noise_chunks: (n_i, d) pieces with Σ n_i = `negatives` (each forms one chunk);
    chunk: data points per forward; log_q: (n, d) -> (n,). If `between_chunks` raises, no .grad was touched."""
    gradient = GradientSum(_trained(model))
    batch = x_data.shape[0]
    noise_weight = nr / negatives  # each noise point's share of N_r · mean_neg
    total, dtype = 0.0, x_data.dtype
    pieces = chain(((part, 1.0 / batch, 1.0) for part in x_data.split(chunk)),  # (points, weight, sign of h)
                   ((part, noise_weight, -1.0) for part in noise_chunks))
    for index, (points, weight, sign) in enumerate(pieces):
        if index:
            between_chunks()
        with torch.enable_grad():
            h = nce_logit(model(points), model.log_z_est, log_q(points), nr)  # (n,)
            piece = -weight * torch.nn.functional.logsigmoid(sign * h).sum()
        total += float(piece.detach())  # a Python float: no small tensor left between the big freed ones
        gradient.add(piece)
    gradient.write()
    return torch.tensor(total, dtype=dtype)


def accumulate_infonce_gradient(model: nn.Module, row_chunks: Iterable[tuple[torch.Tensor, torch.Tensor]],
                                batch: int, log_q: Callable[[torch.Tensor], torch.Tensor],
                                between_chunks: Callable[[], None]) -> torch.Tensor:
    """InfoNCE's loss as a detached scalar, and its gradient added to the .grad of `model`'s trained
    parameters. row_chunks: (x_pos (r, d), x_neg (r·k, d)) pieces, row b's k negatives in x_neg[b·k:(b+1)·k],
    the r's summing to `batch`. If `between_chunks` raises, no .grad was touched."""
    gradient = GradientSum(_trained(model))
    total, dtype = 0.0, None
    for index, (x_pos, x_neg) in enumerate(row_chunks):
        if index:
            between_chunks()
        rows, dtype = x_pos.shape[0], x_pos.dtype
        points = torch.cat([x_pos, x_neg])  # (r + r·k, d)
        with torch.enable_grad():
            scores = model(points) - log_q(points)  # (r + r·k,)
            piece = infonce_loss(scores[:rows], scores[rows:].reshape(rows, -1)) * (rows / batch)
        total += float(piece.detach())  # a Python float: no small tensor left between the big freed ones
        gradient.add(piece)
    gradient.write()
    return torch.tensor(total, dtype=dtype)


def cpc_rows_per_chunk(batch: int) -> int:
    """Rows of CPC's (B, B) scores per chunk: all of them (the fused step) while B² ≤ CPC_CHUNK_SCORES."""
    return max(1, min(batch, CPC_CHUNK_SCORES // batch))


def accumulate_cpc_gradient(embed_x: nn.Module, embed_y: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            rows_per_chunk: int, between_chunks: Callable[[], None]) -> torch.Tensor:
    """CPC's loss as a detached scalar, and its gradient added to the .grad of the two embedding nets'
    parameters.   x, y: (B, 1) the pairs; rows_per_chunk: rows of scores per chunk.
    If `between_chunks` raises, no .grad was touched."""
    batch = x.shape[0]
    with torch.enable_grad():
        g, h = embed_x(x), embed_y(y)  # (B, E) each, their graphs kept until the one backward at the end
    g_leaf, h_leaf = g.detach().requires_grad_(), h.detach().requires_grad_()
    total, g_grad, h_grad = 0.0, torch.zeros_like(g_leaf), torch.zeros_like(h_leaf)
    for start in range(0, batch, rows_per_chunk):
        if start:
            between_chunks()
        rows = slice(start, start + rows_per_chunk)
        with torch.enable_grad():
            g_rows = g_leaf[rows]  # (r, E)
            scores = g_rows @ h_leaf.T  # (r, B): row i's positive is column start + i
            positives = (g_rows * h_leaf[rows]).sum(-1)  # (r,)
            piece = (torch.logsumexp(scores, 1) - positives).sum() / batch
        total += float(piece.detach())
        d_g, d_h = torch.autograd.grad(piece, [g_leaf, h_leaf])
        g_grad.add_(d_g)
        h_grad.add_(d_h)
    torch.autograd.backward([g, h], [g_grad, h_grad])  # accumulates into .grad, like loss.backward()
    return torch.tensor(total, dtype=x.dtype)


def cpc_loss_in_rows(embed_x: nn.Module, embed_y: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     rows_per_chunk: int) -> float:
    """CPC's loss without a gradient (a frame's estimate), its (B, B) scores made rows_per_chunk rows at a time."""
    with torch.no_grad():
        g, h = embed_x(x), embed_y(y)  # (B, E)
        total = 0.0
        for start in range(0, x.shape[0], rows_per_chunk):
            rows = slice(start, start + rows_per_chunk)
            scores = g[rows] @ h.T  # (r, B)
            total += float((torch.logsumexp(scores, 1) - (g[rows] * h[rows]).sum(-1)).sum())
    return total / x.shape[0]
