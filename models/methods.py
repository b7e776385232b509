"""METHODS: every training method by its public name (like DATA_PRESETS, NOISE_FAMILIES, EXPERIMENTS).

A Method owns all that differs between methods: its description and capabilities (published by
/api/schema), the model it trains, the negatives one step draws and the noise points a fixed sample
holds, its loss for one step (fused, or in chunks past a size: models/chunked_steps.py, chunked_mle.py)
and, for CPC, its estimate of the mutual information. The formulas themselves are in objectives.py;
the Trainer (the loop) and the Problem (what a config fixes) only ask the method. Every `method`
switch of the engine is the choice of an entry here.

The loss reads its step's inputs from `run`, the Trainer: run.config, run.model, run.gen, run.stop and
run.problem (models/problem.py: data and noise draws, log q, the MLE grid).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from . import stopping
from .chunked_mle import accumulate_log_z_gradient, raise_when
from .chunked_steps import (accumulate_cpc_gradient, accumulate_infonce_gradient, accumulate_nce_gradient,
                            chunk_points, cpc_loss_in_rows, cpc_rows_per_chunk)
from .cpc import PairCritic
from .energy import build_energy
from .objectives import cpc_loss, infonce_loss, mle_loss, nce_loss

if TYPE_CHECKING:  # config.py imports this module for its method names
    from .config import RunConfig

MAX_NEGATIVES = 65_536  # per step; above this N_r only reweights (the loss stays unbiased), it adds no samples
CAPABILITIES = ("has_density", "learns_log_z", "has_log_z_parameter", "integrates_log_z", "uses_nr", "uses_k",
                "uses_noise", "has_gradient_comparison")


def mi_estimate(loss, batch_size: int):
    """CPC's estimate of I(x; y): log B − loss (the InfoNCE bound; it cannot exceed log B). Floats or
    tensors of losses alike (the live frame and models/experiments/cpc_ceiling.py)."""
    return math.log(batch_size) - loss


def init_parameters(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from our own generator (thread-safe, reproducible)."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
                if not layer.bias.requires_grad:  # a frozen bias (energy.offset_is_free) stays 0; drawn all
                    layer.bias.zero_()            # the same, so every other layer starts where it did


def _sizes(total: int, chunk: int) -> list[int]:
    """total split into pieces of `chunk` (the last one smaller)."""
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def _step_chunk(cfg: "RunConfig") -> int:
    return chunk_points(cfg.model, cfg.hidden, cfg.depth)


class Method:
    """One training method. Capabilities (class attributes):
    has_density: it learns an energy G(x) on the data space (frames show p_θ, KL, log Z);
    learns_log_z: its loss moves the log Ẑ parameter (NCE's c), so it sees G's additive constant;
    has_log_z_parameter: frames report log Ẑ;  integrates_log_z: each step takes log Z by quadrature on a grid;
    uses_nr / uses_k: the knob changes its loss;  uses_noise: its loss draws from q;
    has_gradient_comparison: frames compare its population gradient with MLE's (models/gradients.py).
    pairs: its model is a critic of (x, y) pairs on data_preset, not an energy on `data`."""
    name = ""
    description = ""
    has_density = True
    learns_log_z = False
    has_log_z_parameter = False
    integrates_log_z = False
    uses_nr = False
    uses_k = False
    uses_noise = False
    has_gradient_comparison = True
    pairs = False
    data_preset: str | None = None  # the data it always trains on (else the config's `data`)
    fixed_noise_knob: str | None = None  # the knob the fixed sample's noise count scales with
    fixed_noise_rule: str | None = None  # that count, as the page may show it
    step_knobs: tuple[str, ...] = ()  # knobs its step's time scales with, besides batch_size and the model's size

    def capabilities(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CAPABILITIES} | {
            "fixed_noise_knob": self.fixed_noise_knob, "fixed_noise_rule": self.fixed_noise_rule}

    def new_model(self, cfg: "RunConfig", dim: int) -> nn.Module:
        """Its model for data of `dim` dimensions, initialised from the config's seed."""
        model = self.build_model(cfg, dim)
        init_parameters(model, torch.Generator().manual_seed(cfg.seed))
        return model

    def build_model(self, cfg: "RunConfig", dim: int) -> nn.Module:
        return build_energy(cfg.model, dim, cfg.hidden, cfg.depth, cfg.learn_log_z, self.name)

    def negatives(self, cfg: "RunConfig") -> int:
        """Noise points one step draws."""
        return 0

    def fixed_noise_count(self, sample_size: int, nr: float, k: int) -> int:
        """Noise points a fixed sample of `sample_size` data points holds."""
        return 0

    def loss(self, run) -> torch.Tensor:
        """The loss of one step. A step in chunks returns it detached, its gradient already in .grad."""
        raise NotImplementedError


class MLE(Method):
    name = "mle"
    description = "Maximum likelihood with the exact normaliser Z from quadrature on the grid."
    integrates_log_z = True
    step_knobs = ("grid",)  # its log Z over the grid, every step

    def loss(self, run) -> torch.Tensor:
        batch, problem = run.config.batch_size, run.problem
        x_data = problem.draw_batch(batch, run.gen)[0]  # (B, d)
        quadrature = problem.mle_grid
        if quadrature.size > min(stopping.STOP_CHUNK_POINTS, _step_chunk(run.config)):  # ∇ log Z into .grad
            log_z_true = accumulate_log_z_gradient(run.model, quadrature, stopping.STOP_CHUNK_MLE_POINTS,
                                                   raise_when(run.stop, stopping.Stopped))
            return mle_loss(run.model(x_data), log_z_true)
        g = run.model(torch.cat([x_data, quadrature.points]))  # one forward: data and grid
        return mle_loss(g[:batch], quadrature.log_integral(g[batch:]))


class _Contrastive(Method):
    """Tells data from noise drawn from q: one fused pass over B + N_n points, or chunks past chunk_points."""
    uses_noise = True

    def loss(self, run) -> torch.Tensor:
        cfg, problem = run.config, run.problem
        batch = cfg.batch_size
        x_data, data_rows = problem.draw_batch(batch, run.gen)  # (B, d), (B,) or None
        negatives = self.negatives(cfg)
        if batch + negatives > _step_chunk(cfg):
            return self.chunked_loss(run, x_data, data_rows, negatives)  # detached: its gradient is in .grad
        x_noise = self.draw_noise(run, data_rows, negatives, run.gen)  # (N_n, d)
        x_all = torch.cat([x_data, x_noise])  # (B + N_n, d)
        g = run.model(x_all)  # positives and negatives in one pass
        return self.fused_loss(run, g, problem.log_q(x_all), batch)

    def draw_noise(self, run, data_rows: torch.Tensor | None, count: int, gen: torch.Generator) -> torch.Tensor:
        """(count, d) float32 negatives: fresh from q, or gathered from the fixed noise sample."""
        problem = run.problem
        if problem.fixed_noise is None:
            return problem.noise.sample(count, gen).to(torch.float32)
        return problem.fixed_noise[self.fixed_noise_rows(run, data_rows, count, gen)]


class NCE(_Contrastive):
    name = "nce"
    description = "Noise-contrastive estimation: tell data from N_r× as much noise; learns log Z as a parameter."
    learns_log_z = has_log_z_parameter = uses_nr = True
    fixed_noise_knob = "nr"
    fixed_noise_rule = "max(1, round_half_even(nr * sample_size))"
    step_knobs = ("nr",)

    def negatives(self, cfg):
        return int(min(MAX_NEGATIVES, max(1, round(cfg.nr * cfg.batch_size))))

    def fixed_noise_count(self, sample_size, nr, k):
        return max(1, round(nr * sample_size))  # Python's round: half to even (41 · 0.5 -> 20)

    def fixed_noise_rows(self, run, data_rows, count, gen):  # N_n of the fixed noise points, with replacement
        return torch.randint(0, run.problem.fixed_noise.shape[0], (count,), generator=gen, device=run.device)

    def fused_loss(self, run, g, log_q, batch):
        return nce_loss(g[:batch], g[batch:], log_q[:batch], log_q[batch:], run.model.log_z_est, run.config.nr)

    def chunked_loss(self, run, x_data, data_rows, negatives):
        chunk, problem = _step_chunk(run.config), run.problem
        if problem.fixed_noise is None:
            noise_chunks = (problem.noise.sample(size, run.gen).to(torch.float32) for size in _sizes(negatives, chunk))
        else:
            rows = self.fixed_noise_rows(run, data_rows, negatives, run.gen)
            noise_chunks = (problem.fixed_noise[part] for part in rows.split(chunk))
        return accumulate_nce_gradient(run.model, x_data, noise_chunks, negatives, problem.log_q, run.config.nr,
                                       chunk, raise_when(run.stop, stopping.Stopped))


class InfoNCE(_Contrastive):
    name = "infonce"
    description = "Ranking NCE: pick the positive among k noise samples; cannot identify Z."
    has_log_z_parameter = uses_k = True
    fixed_noise_knob = "k"
    fixed_noise_rule = "k * sample_size"
    step_knobs = ("k",)

    def negatives(self, cfg):
        return cfg.k * cfg.batch_size

    def fixed_noise_count(self, sample_size, nr, k):
        return k * sample_size

    def fixed_noise_rows(self, run, data_rows, count, gen):  # the k points paired with each chosen data row
        k = run.config.k
        return (data_rows.unsqueeze(1) * k + torch.arange(k, device=run.device)).reshape(-1)  # (B·k,)

    def fused_loss(self, run, g, log_q, batch):
        scores = g - log_q  # s = G − log q
        return infonce_loss(scores[:batch], scores[batch:].reshape(batch, run.config.k))

    def chunked_loss(self, run, x_data, data_rows, negatives):
        k, problem = run.config.k, run.problem
        rows_per_chunk = max(1, _step_chunk(run.config) // (1 + k))

        def row_chunks():
            for start in range(0, x_data.shape[0], rows_per_chunk):
                x_pos = x_data[start:start + rows_per_chunk]  # (r, d)
                if problem.fixed_noise is None:
                    x_neg = problem.noise.sample(x_pos.shape[0] * k, run.gen).to(torch.float32)  # (r·k, d)
                else:
                    x_neg = problem.fixed_noise[self.fixed_noise_rows(run, data_rows[start:start + rows_per_chunk],
                                                                      None, None)]
                yield x_pos, x_neg
        return accumulate_infonce_gradient(run.model, row_chunks(), x_data.shape[0], problem.log_q,
                                           raise_when(run.stop, stopping.Stopped))


class CPC(Method):
    name = "cpc"
    description = "Conditional InfoNCE (CPC) on correlated Gaussian pairs: a lower bound on mutual information."
    has_density = has_gradient_comparison = False
    pairs = True
    data_preset = "correlated_gaussian"

    def build_model(self, cfg, dim):
        return PairCritic(cfg.hidden, cfg.depth)

    def loss(self, run) -> torch.Tensor:
        batch = run.config.batch_size
        pairs = run.problem.draw_data(batch, run.gen)  # (B, 2)
        rows = cpc_rows_per_chunk(batch)
        if rows < batch:  # B × B scores in chunks of rows (chunked_steps.py); detached, its gradient in .grad
            return accumulate_cpc_gradient(run.model.embed_x, run.model.embed_y, pairs[:, :1], pairs[:, 1:], rows,
                                           raise_when(run.stop, stopping.Stopped))
        return cpc_loss(run.model.scores(pairs[:, :1], pairs[:, 1:]))

    def estimate(self, critic: PairCritic, pairs: torch.Tensor) -> float:
        """The MI estimate on one batch of pairs (B, 2), scored in rows past CPC_CHUNK_SCORES."""
        batch = pairs.shape[0]
        rows = cpc_rows_per_chunk(batch)
        if rows < batch:
            loss = cpc_loss_in_rows(critic.embed_x, critic.embed_y, pairs[:, :1], pairs[:, 1:], rows)
        else:
            loss = float(cpc_loss(critic.scores(pairs[:, :1], pairs[:, 1:])))
        return mi_estimate(loss, batch)


METHODS: dict[str, Method] = {method.name: method for method in (MLE(), NCE(), InfoNCE(), CPC())}


def data_name(cfg: "RunConfig") -> str:
    """The data a config trains on: its method's own (CPC's pairs) or its `data` knob."""
    return METHODS[cfg.method].data_preset or cfg.data
