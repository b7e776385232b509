"""Many independent models as one tensor program: a leading model axis R on every parameter and sample.

StackedMLP stacks R MLPs of one shape (nn.Linear / nn.SiLU sequences) into batched matmuls:

    a_{l+1} = act(a_l W_l + b_l),   a_l: (R, n, width_l),  W_l: (R, width_l, width_{l+1}),  b_l: (R, 1, width_{l+1})

BatchedTrainer runs R Trainers' NCE steps at once. Each model keeps what makes it itself — its
initial parameters, its fixed data and noise samples (`sample_size`), its own generator for the
minibatch draws — so model r follows the same trajectory as Trainer(config_r) trained alone
(up to float rounding: a batched matmul may round differently from a single one). Adam is
elementwise, so one Adam over the stacked tensors is R independent Adams.

Memory: a step and the evaluation run a chunk of models (and of grid cells) at a time, so they hold
~CHUNK_POINTS points' activations at width 64 (fewer points at a larger width), never all R models';
a model whose step alone is more (batch_size × (1 + N_r) points) steps in pieces of points.
A model diverges by divergence.py's rules, as a live run: a non-finite loss, or one over
LOSS_GROWTH × its first (rules 1, 2, every step), or |log Ẑ − log Z| or KL beyond LOG_FLOAT_MAX at
the evaluation (rule 3); `diverged` says which, and its loss no longer moves it.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .averaging import ParameterAverage
from .divergence import LOG_FLOAT_MAX, LOSS_GROWTH
from .objectives import nce_logit, nce_loss
from .trainer import Trainer, scheduled_lr


CHUNK_POINTS = 16_384  # points per forward/backward chunk of models on a CPU at width ≤ 64 (activations ~4 MB)
GPU_CHUNK_POINTS = 1_048_576  # on a GPU: big kernels pay there, but R × (B + N_n) points may not fit
REFERENCE_WIDTH = 64   # wider networks take proportionally fewer points per chunk
EVAL_CELLS = 1_048_576  # models × grid cells of G held at once by evaluate() (float64: 8 MB a tensor)


def chunk_points(hidden: int, device_type: str) -> int:
    """Points (over all the models of a chunk) one forward/backward chunk holds."""
    points = CHUNK_POINTS if device_type == "cpu" else GPU_CHUNK_POINTS
    return max(1, points * REFERENCE_WIDTH // max(hidden, REFERENCE_WIDTH))


def models_per_chunk(points_per_model: int, hidden: int, models: int, device_type: str) -> int:
    """Models per forward/backward chunk: as many as fit chunk_points (one at least)."""
    return max(1, min(models, chunk_points(hidden, device_type) // max(1, points_per_model)))


class StackedMLP(nn.Module):
    def __init__(self, mlps: list[nn.Module]):
        """mlps: R modules whose Linear and SiLU layers, in module order, make the same network (and whose
        biases are trained alike: a stacked bias is trained where the first model's is)."""
        super().__init__()
        layers = [[m for m in mlp.modules() if isinstance(m, (nn.Linear, nn.SiLU))] for mlp in mlps]
        self.kinds = ["linear" if isinstance(layer, nn.Linear) else "silu" for layer in layers[0]]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for index, kind in enumerate(self.kinds):
            if kind == "linear":
                with torch.no_grad():
                    self.weights.append(nn.Parameter(torch.stack([m[index].weight.T for m in layers]).contiguous()))
                    # a bias frozen in the Trainer's model (the output bias: energy.offset_is_free) is frozen here too
                    self.biases.append(nn.Parameter(torch.stack([m[index].bias for m in layers]).unsqueeze(1),
                                                    requires_grad=layers[0][index].bias.requires_grad))

    @property
    def models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, models: slice = slice(None)) -> torch.Tensor:
        """(r, n, d_in) -> (r, n, d_out) for the models in `models` (all by default)."""
        linear = 0
        for kind in self.kinds:
            if kind == "linear":
                # matmul + bias, not baddbmm: the same numbers, and its backward is ~2x faster on the CPU
                x = torch.matmul(x, self.weights[linear][models]) + self.biases[linear][models]
                linear += 1
            else:
                x = F.silu(x)
        return x


class BatchedTrainer:
    """R fixed-sample NCE Trainers (same config but the seed, and the same N_r) stepped as one."""

    def __init__(self, trainers: list[Trainer]):
        first = trainers[0].config
        for trainer in trainers:
            cfg = trainer.config
            if cfg.method != "nce" or cfg.model != "mlp" or cfg.sample_size is None:
                raise ValueError("BatchedTrainer runs NCE on the MLP with a fixed sample (sample_size)")
            if cfg.model_copy(update={"seed": first.seed}) != first:
                raise ValueError("BatchedTrainer: the configs may differ only in their seed")
        self.trainers, self.config = trainers, first
        self.device = trainers[0].device
        self.network = StackedMLP([nn.Sequential(t.model.features, t.model.head) for t in trainers]).to(self.device)
        self.log_z_est = nn.Parameter(torch.stack([t.model.log_z_est.detach() for t in trainers]).unsqueeze(1),
                                      requires_grad=first.learn_log_z)  # (R, 1)
        self.fixed_data = torch.stack([t.fixed_data for t in trainers])  # (R, T, d)
        self.fixed_noise = torch.stack([t.fixed_noise for t in trainers])  # (R, N, d)
        with torch.no_grad():  # log q of every fixed point, once (the Trainer computes it per step)
            self.log_q_data = torch.stack([t._log_q(t.fixed_data) for t in trainers])  # (R, T)
            self.log_q_noise = torch.stack([t._log_q(t.fixed_noise) for t in trainers])  # (R, N)
        self.trained = nn.Module()  # what the optimiser moves, for the average θ̄ that evaluate() reads
        self.trained.network, self.trained.log_z_est = self.network, self.log_z_est
        self.average = ParameterAverage(self.trained)  # averaging.py: θ̄ of every model, as a Trainer's frames show
        params = list(self.network.parameters()) + ([self.log_z_est] if first.learn_log_z else [])
        self.optimizer = torch.optim.Adam(params, lr=first.lr, foreach=True)
        self.step_count = 0
        self.diverged = torch.zeros(len(trainers), dtype=torch.bool, device=self.device)
        self.loss_reference = torch.full((len(trainers),), math.nan, device=self.device)  # each first loss (rule 2)

    @property
    def models(self) -> int:
        return len(self.trainers)

    def current_lr(self) -> float:
        cfg = self.config
        return scheduled_lr(cfg.lr, self.step_count, cfg.steps, cfg.lr_decay)

    def step(self, n: int = 1, check: Optional[Callable[[], None]] = None) -> None:
        """n steps of every model; `check` is called before each chunk of models (it raises to stop)."""
        cfg, batch = self.config, self.config.batch_size
        models = torch.arange(self.models, device=self.device).unsqueeze(1)  # (R, 1)
        negatives = self.trainers[0].negatives_per_step()
        for _ in range(n):
            if self.step_count >= cfg.steps:
                return
            # each model's minibatch from its own generator, in the Trainer's order: data rows, then noise rows
            data_rows, noise_rows = [], []
            for trainer in self.trainers:
                data_rows.append(trainer._fixed_rows(batch, trainer.gen))
                noise_rows.append(torch.randint(0, trainer.fixed_noise.shape[0], (negatives,), generator=trainer.gen,
                                                device=self.device))
            data_rows, noise_rows = torch.stack(data_rows), torch.stack(noise_rows)  # (R, B), (R, N_n)
            x_all = torch.cat([self.fixed_data[models, data_rows], self.fixed_noise[models, noise_rows]], 1)
            log_q = torch.cat([self.log_q_data[models, data_rows], self.log_q_noise[models, noise_rows]], 1)
            for group in self.optimizer.param_groups:
                group["lr"] = self.current_lr()
            self.optimizer.zero_grad(set_to_none=True)
            # on a CPU, a few models at a time, forward and backward: activations that fit in the cache beat
            # one huge batched matmul (2x); a GPU wants big chunks. The models are independent, so are
            # their gradients
            points = x_all.shape[1]
            chunk = models_per_chunk(points, cfg.hidden, self.models, self.device.type)
            for start in range(0, self.models, chunk):
                if check is not None:
                    check()
                part = slice(start, start + chunk)
                if points > chunk_points(cfg.hidden, self.device.type):  # one model's step, in pieces of points
                    self._step_in_pieces(part, x_all, log_q, negatives, check)
                    continue
                g = self.network(x_all[part], part).squeeze(-1)  # (r, B + N_n)
                losses = nce_loss(g[:, :batch], g[:, batch:], log_q[part, :batch], log_q[part, batch:],
                                  self.log_z_est[part], cfg.nr)
                self._note_losses(part, losses.detach())
                torch.where(self.diverged[part], torch.zeros_like(losses), losses).sum().backward()
            self.optimizer.step()
            self.average.update(self.trained, cfg.ema_decay)
            self.step_count += 1

    def _step_in_pieces(self, part: slice, x_all: torch.Tensor, log_q: torch.Tensor, negatives: int,
                        check: Optional[Callable[[], None]]) -> None:
        """The gradient of one model whose B + N_n points are more than a chunk: NCE's loss is a sum over
        points, −[(1/B) Σ_data log σ(h) + (N_r/N_n) Σ_noise log σ(−h)], so each piece of points gets its own
        forward and backward (the gradients add up in .grad), with `check` between two.
        x_all: (R, B + N_n, d), log_q: (R, B + N_n), the data points first."""
        cfg, batch = self.config, self.config.batch_size
        per_piece = chunk_points(cfg.hidden, self.device.type)
        loss = torch.zeros(1, device=self.device)
        for first in range(0, x_all.shape[1], per_piece):
            if first and check is not None:
                check()
            cols = slice(first, first + per_piece)
            g = self.network(x_all[part, cols], part).squeeze(-1)  # (1, m)
            h = nce_logit(g, self.log_z_est[part], log_q[part, cols], cfg.nr)
            is_data = torch.arange(first, first + g.shape[1], device=self.device) < batch  # (m,)
            weight = torch.where(is_data, 1.0 / batch, cfg.nr / negatives)
            piece = -(weight * F.logsigmoid(torch.where(is_data, h, -h))).sum(-1)  # (1,)
            loss += piece.detach()
            torch.where(self.diverged[part], torch.zeros_like(piece), piece).sum().backward()
        self._note_losses(part, loss)  # a blow-up within this step is seen after its pieces' backward

    def _note_losses(self, part: slice, losses: torch.Tensor) -> None:
        """Divergence rules 1 and 2 for the models in `part` (losses (r,)), on the device: no sync."""
        reference = self.loss_reference[part]
        reference = torch.where(torch.isnan(reference), losses, reference)  # the first loss is the reference
        self.loss_reference[part] = reference
        blown = losses.abs() > LOSS_GROWTH * reference.abs().clamp_min(1.0)
        self.diverged[part] |= ~torch.isfinite(losses) | blown

    @torch.no_grad()
    def evaluate(self, check: Optional[Callable[[], None]] = None) -> dict[str, torch.Tensor]:
        """Per model (R,), of the average θ̄ (as a Trainer's frame): log Ẑ, log Z (quadrature on the
        training grid) and KL(p_d ‖ p_θ), a chunk of models and of cells at a time (`check` before each);
        `diverged` adds rule 3 (|log Ẑ − log Z| or KL beyond LOG_FLOAT_MAX, or not finite)."""
        shown = self.average.model
        view = self.trainers[0].view(self.config.grid)
        points = view.grid.points  # (M, d)
        cells = points.shape[0]
        p_d = view.log_pd.exp()  # (M,)
        log_z_true = torch.empty(self.models, dtype=torch.float64, device=self.device)
        kl = torch.empty_like(log_z_true)
        models = max(1, min(self.models, EVAL_CELLS // cells))
        per_cells = max(1, chunk_points(self.config.hidden, self.device.type) // models)
        for start in range(0, self.models, models):
            part = slice(start, min(self.models, start + models))
            r = part.stop - part.start
            g = torch.empty(r, cells, dtype=torch.float64, device=self.device)  # (r, M)
            for first in range(0, cells, per_cells):
                if check is not None:
                    check()
                block = points[first:first + per_cells].unsqueeze(0).expand(r, -1, -1)  # (r, m, d)
                g[:, first:first + per_cells] = shown.network(block, part).squeeze(-1).double()
            log_z_true[part] = torch.logsumexp(g, 1) + view.grid.log_cell
            log_p = g - log_z_true[part].unsqueeze(1)
            kl[part] = torch.where(p_d > 0, p_d * (view.log_pd - log_p), torch.zeros_like(log_p)).sum(1) \
                * math.exp(view.grid.log_cell)
        log_z_est = shown.log_z_est.detach().double().squeeze(1)
        gap = log_z_est - log_z_true  # as the Trainer's rule 3 for NCE, learnt log Ẑ or not
        self.diverged |= ~(gap.abs() <= LOG_FLOAT_MAX) | ~(kl <= LOG_FLOAT_MAX)  # rule 3 (NaN fails both)
        return {"log_z_est": log_z_est, "log_z_true": log_z_true, "kl": kl, "diverged": self.diverged.clone()}
