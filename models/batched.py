"""Many independent models as one tensor program: a leading model axis R on every parameter and sample.

StackedMLP stacks R MLPs of one shape (nn.Linear / nn.SiLU sequences) into batched matmuls:

    a_{l+1} = act(a_l W_l + b_l),   a_l: (R, n, width_l),  W_l: (R, width_l, width_{l+1}),  b_l: (R, 1, width_{l+1})

BatchedTrainer runs R Trainers' NCE steps at once. Each model keeps what makes it itself — its
initial parameters, its fixed data and noise samples (`sample_size`), its own generator for the
minibatch draws — so model r follows the same trajectory as Trainer(config_r) trained alone
(up to float rounding: a batched matmul may round differently from a single one). Adam is
elementwise, so one Adam over the stacked tensors is R independent Adams.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .averaging import ParameterAverage
from .objectives import nce_loss
from .trainer import Trainer, scheduled_lr


CHUNK_POINTS = 16_384  # points per forward/backward chunk of models (activations ~4 MB at width 64)


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

    @property
    def models(self) -> int:
        return len(self.trainers)

    def current_lr(self) -> float:
        cfg = self.config
        return scheduled_lr(cfg.lr, self.step_count, cfg.steps, cfg.lr_decay)

    def step(self, n: int = 1) -> None:
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
            # one huge batched matmul (2x); a GPU wants all of them in one go. The models are independent,
            # so are their gradients
            chunk = max(1, CHUNK_POINTS // x_all.shape[1]) if self.device.type == "cpu" else self.models
            for start in range(0, self.models, chunk):
                part = slice(start, start + chunk)
                g = self.network(x_all[part], part).squeeze(-1)  # (r, B + N_n)
                losses = nce_loss(g[:, :batch], g[:, batch:], log_q[part, :batch], log_q[part, batch:],
                                  self.log_z_est[part], cfg.nr)
                self.diverged[part] |= ~torch.isfinite(losses)
                torch.where(self.diverged[part], torch.zeros_like(losses), losses).sum().backward()
            self.optimizer.step()
            self.average.update(self.trained, cfg.ema_decay)
            self.step_count += 1

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Per model (R,), of the average θ̄ (as a Trainer's frame): log Ẑ, log Z (quadrature on the
        training grid) and KL(p_d ‖ p_θ)."""
        shown = self.average.model
        view = self.trainers[0].view(self.config.grid)
        points = view.grid.points.unsqueeze(0).expand(self.models, -1, -1)  # (R, M, d)
        g = shown.network(points).squeeze(-1).double()  # (R, M)
        log_z_true = torch.logsumexp(g, 1) + view.grid.log_cell
        log_p = g - log_z_true.unsqueeze(1)
        p_d = view.log_pd.exp()
        kl = torch.where(p_d > 0, p_d * (view.log_pd - log_p), torch.zeros_like(log_p)).sum(1) \
            * math.exp(view.grid.log_cell)
        return {"log_z_est": shown.log_z_est.detach().double().squeeze(1), "log_z_true": log_z_true, "kl": kl,
                "diverged": self.diverged.clone()}
