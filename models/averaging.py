"""Polyak averaging: the parameters that frames show are an exponential moving average of θ.

    θ̄_t = β_t θ̄_{t−1} + (1 − β_t) θ_t,    β_t = min(β, (1 + t) / (10 + t))

t counts the updates since the last restart, so right after a build or a live change the average
follows θ closely and then settles to a window of about 1 / (1 − β) steps (TensorFlow's
ExponentialMovingAverage warm-up). β = 0 shows θ itself.

Why: Adam moves every parameter by about lr per step whatever the size of its gradient, so a model
at its optimum still wanders, and log Z_θ with it (±0.03–0.06 between frames 10 steps apart on
bimodal NCE at lr = 1e-2, more than the log Ẑ − log Z gap a lesson asks you to watch). The average
of the wandering iterates sits closer to the optimum than any one of them (Polyak & Juditsky, 1992).
Training itself never reads the average.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

WARMUP = 10  # β_t = min(β, (1 + t) / (WARMUP + t)): the first updates after a restart weigh θ heavily


@torch.no_grad()
def copy_parameters(target: nn.Module, source: nn.Module) -> None:
    """target's parameters take source's values and requires_grad (which are θ can change live:
    energy.set_objective). The two modules have the same structure."""
    for mine, theirs in zip(target.parameters(), source.parameters()):
        mine.copy_(theirs)
        mine.requires_grad_(theirs.requires_grad)


class ParameterAverage:
    """A copy of a model whose parameters are the running average of another model's."""

    def __init__(self, model: nn.Module):
        self.model = copy.deepcopy(model)
        self.updates = 0
        # the parameter lists, made once: walking the modules cost twice the update itself (23 of 35 µs)
        self._mine = list(self.model.parameters())
        self._source: nn.Module | None = None
        self._theirs: list[torch.Tensor] = []

    def restart(self, model: nn.Module) -> None:
        """θ̄ = θ (values and which parameters are θ), and the warm-up starts again."""
        copy_parameters(self.model, model)
        self.updates = 0

    def decay_now(self, decay: float) -> float:
        """β_t for the next update."""
        return min(decay, (1 + self.updates) / (WARMUP + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """θ̄ ← β_t θ̄ + (1 − β_t) θ, one fused op over all the parameters."""
        weight = 1.0 - self.decay_now(decay)
        if model is not self._source:
            self._source, self._theirs = model, list(model.parameters())
        torch._foreach_lerp_(self._mine, self._theirs, weight)
        self.updates += 1
