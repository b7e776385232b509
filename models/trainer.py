"""Trainer: the loop. It holds a Problem (models/problem.py: data, noise, fixed samples, grid views),
one model and its optimizer, steps it, takes live config patches, and reports frames as plain data
(models/frames.py). It knows nothing of sockets or files (minGPT's trainer: it reports, it does not
talk); the server and the CLI call it. What differs between methods — the model, the loss, the
negatives — is the method's own (models/methods.py, METHODS[config.method]).

Lifecycle: Trainer(config) -> step(n) ... -> frame() at any time -> apply(patch) live -> reset().
Frames describe the average θ̄ (models/averaging.py, `ema_decay`), not θ: `shown` is that model.
A blow-up (models/divergence.py: a non-finite or exploding loss, Z or KL) sets state "diverged" with a
message naming the likely cause; no exception leaves step().
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import frames
from .averaging import ParameterAverage, copy_parameters
from .config import RunConfig
from .data import CUSTOM
from .divergence import CHECK_EVERY, divergence_message, grid_blowup, loss_blowup
from .energy import EnergyModel
from .frames import GRAD_DTYPE_2D, GRAD_GRID_2D, POINTS_SHOWN  # noqa: F401  (re-exported)
from .methods import MAX_NEGATIVES, METHODS, data_name  # noqa: F401  (MAX_NEGATIVES re-exported)
from .methods import init_parameters as _init_parameters  # noqa: F401  (its former home)
from .problem import (BOX_SAMPLES, LOG_Q_FLOOR, MLE_GRIDS_2D, GridView, Problem,  # noqa: F401  (re-exported)
                      check_kde_cost)
from .stopping import STOP_CHUNK_MLE_POINTS, STOP_CHUNK_POINTS, STOP_CHUNK_TERMS, Stopped  # noqa: F401

# knobs that need a new model (or new data) when they change; everything else applies live
REBUILD_KNOBS = frozenset({"data", "data_file", "model", "hidden", "depth", "seed", "grid", "device"})


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: 'mps' was asked for but no MPS device is available")
    return torch.device(name)


def scheduled_lr(lr: float, step: int, steps: int, decay: bool) -> float:
    """The learning rate at `step`: constant, or cosine-decayed from lr to 5% of it over `steps`."""
    if not decay:
        return lr
    progress = min(1.0, step / max(1, steps))
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def needs_rebuild(old: RunConfig, new: RunConfig) -> bool:
    if any(getattr(old, k) != getattr(new, k) for k in REBUILD_KNOBS):
        return True
    if METHODS[old.method].pairs != METHODS[new.method].pairs:
        return True  # a critic of pairs is a different model
    uses_mi = data_name(new) == "correlated_gaussian"  # the knob shapes the data itself
    return uses_mi and old.mi != new.mi


@dataclass
class ApplyResult:
    config: RunConfig
    rebuilt: bool
    changed: list[str] = field(default_factory=list)


class Trainer:
    def __init__(self, config: RunConfig, samples: torch.Tensor | None = None,
                 stop: Callable[[], bool] | None = None):
        """samples: (n, d) custom data, required when config.data == 'custom'. stop: a callable that
        returns True once the caller has gone (heavy work then raises Stopped within ~0.5 s)."""
        self.config = config
        self.samples = samples
        self.stop = stop or (lambda: False)
        check_kde_cost(config, samples)
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        cfg = self.config
        self.device = resolve_device(cfg.device)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)  # training draws only
        self.view_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)  # frames' draws
        self.step_count = 0
        self.state, self.message = "ok", None
        self.last_loss: float | None = None
        self._loss_reference: float | None = None  # divergence rule 2: the first loss since a build or change
        self._rate_steps, self._rate_seconds = 0, 0.0
        self.steps_per_s: float | None = None
        self._snapshot_of: nn.Module | None = None
        self.problem = Problem(cfg, self.samples, self.device, lambda: self.stop())
        self.model: nn.Module = METHODS[cfg.method].new_model(cfg, self.problem.dim).to(self.device)
        self.average: ParameterAverage | None = ParameterAverage(self.model)  # θ̄, what frames show
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, foreach=True)

    # what a config fixes lives in the Problem; these names stay readable on the Trainer
    dim = property(lambda self: self.problem.dim)
    data = property(lambda self: self.problem.data)
    noise = property(lambda self: self.problem.noise)
    box = property(lambda self: self.problem.box)
    stats = property(lambda self: self.problem.stats)
    data_scale = property(lambda self: self.problem.data_scale)
    fixed_data = property(lambda self: self.problem.fixed_data)
    fixed_noise = property(lambda self: self.problem.fixed_noise)
    grid = property(lambda self: self.problem.grid)
    mle_grid = property(lambda self: self.problem.mle_grid)

    def view(self, n: int) -> GridView:
        """The grid with n cells per axis, with log p_d and log q on it (cached in the Problem)."""
        return self.problem.view(n)

    # ------------------------------------------------------------------ live changes
    def apply(self, patch: dict, samples: torch.Tensor | None = None) -> ApplyResult:
        """Apply a partial config. Validates the whole result first (ConfigError on failure, nothing
        changed). Knobs in REBUILD_KNOBS (and a switch to or from a critic of pairs) rebuild the model
        from step 0; the rest (nr, k, noise, lr, method, batch_size, steps, learn_log_z, ...) act on the
        running model. `samples`: new custom data that comes with a changed data_file."""
        new = self.config.patched(patch)
        changed = [k for k in RunConfig.model_fields if getattr(new, k) != getattr(self.config, k)]
        if not changed:
            return ApplyResult(new, False, [])
        if needs_rebuild(self.config, new):
            self._rebuild(new, samples)
            return ApplyResult(new, True, changed)
        self.config = new
        self._loss_reference = None  # the objective may have changed scale (e.g. N_r): divergence rule 2
        self.problem.update(new, set(changed))
        if {"learn_log_z", "method"} & set(changed) and isinstance(self.model, EnergyModel):
            for frozen in self.model.set_objective(new.method, new.learn_log_z):  # one free constant (energy.py)
                self.optimizer.state.pop(frozen, None)
        if "learn_log_z" in changed and isinstance(self.model, EnergyModel):
            if not new.learn_log_z:
                with torch.no_grad():
                    self.model.log_z_est.zero_()
                self.optimizer.state.pop(self.model.log_z_est, None)
        self.average.restart(self.model)  # the average so far belongs to the old objective (averaging.py)
        if self.state == "done" and self.step_count < new.steps:
            self.state, self.message = "ok", None  # more steps were granted
        elif self.state == "ok" and self.step_count >= new.steps:
            self.state = "done"
        return ApplyResult(new, False, changed)

    def _rebuild(self, new: RunConfig, samples: torch.Tensor | None) -> None:
        """A new Problem and model for `new`; on failure the old config is built again and the error raised."""
        resolve_device(new.device)  # fail before touching anything
        check_kde_cost(new, samples if samples is not None else self.samples)
        old_samples = self.samples
        if samples is not None:
            self.samples = samples
        if new.data == CUSTOM and self.samples is None:
            self.samples = old_samples
            raise ValueError("data: 'custom' needs samples")
        old, self.config = self.config, new
        try:
            self._build()
        except Exception:
            self.config, self.samples = old, old_samples
            self._build()
            raise

    def snapshot(self, reuse: "Trainer | None" = None) -> "Trainer":
        """A copy that frame() and gradient_frame() can run on in another thread while this one trains.
        It has its own parameters and grid views and shares what frames only read (data, noise, grids,
        config, the frames' generator). `reuse`: an earlier snapshot of this same model, whose parameter
        tensors are overwritten instead of deep-copied. Snapshots cannot step."""
        copied = copy.copy(self)
        shown = self.shown
        if reuse is not None and reuse._snapshot_of is self.model:
            model = reuse.model
            copy_parameters(model, shown)
        else:
            model = copy.deepcopy(shown)
        copied.model, copied._snapshot_of, copied.optimizer, copied.average = model, self.model, None, None
        copied.problem = self.problem.snapshot()
        return copied

    @property
    def shown(self) -> nn.Module:
        """The model frames describe: the average θ̄ (models/averaging.py; θ itself when ema_decay = 0
        or right after a build or change). A snapshot's own model is already that copy."""
        return self.model if self.average is None else self.average.model

    def reset(self) -> None:
        """Back to step 0 with a fresh model from the same config (also clears a divergence)."""
        self._build()

    # ------------------------------------------------------------------ training
    def current_lr(self) -> float:
        return scheduled_lr(self.config.lr, self.step_count, self.config.steps, self.config.lr_decay)

    def step(self, n: int = 1) -> int:
        """Run up to n optimisation steps (stops at config.steps or on divergence). Returns steps taken."""
        taken = 0
        start = time.perf_counter()
        while taken < n and self.state == "ok":
            if self.step_count >= self.config.steps:
                self.state = "done"
                break
            for group in self.optimizer.param_groups:
                group["lr"] = self.current_lr()
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss()
            value = float(loss.detach())
            blowup = loss_blowup(value, self._loss_reference)  # divergence rules 1 and 2
            if blowup is not None:
                self._diverge(blowup)
                break
            if self._loss_reference is None:
                self._loss_reference = value
            if loss.requires_grad:  # a step in chunks (chunked_steps.py) has its gradient in .grad already
                loss.backward()
            self.optimizer.step()
            self.average.update(self.model, self.config.ema_decay)
            self.last_loss = value
            self.step_count += 1
            taken += 1
            if self.step_count % CHECK_EVERY == 0 and self._grid_blowup():  # rule 3
                break
        if taken and self.state == "ok" and not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self._diverge("a parameter became non-finite")  # rule 1, once per call: the next loss would be NaN
        if self.state == "ok" and self.step_count >= self.config.steps:
            self.state = "done"
        self._note_rate(taken, time.perf_counter() - start)
        return taken

    def _loss(self) -> torch.Tensor:
        """This step's loss, as the method computes it (models/methods.py)."""
        return METHODS[self.config.method].loss(self)

    def _diverge(self, what: str) -> None:
        self.state = "diverged"
        self.message = divergence_message(what, self.step_count, self.problem.data_scale, self.config.lr,
                                          RunConfig.model_fields["lr"].default)

    def _grid_blowup(self) -> bool:
        """Divergence rule 3 on the frames' coarse grid: |log Ẑ − log Z| (a learned log Ẑ) and KL(p_d ‖ p_θ)."""
        method = METHODS[self.config.method]
        if not method.has_density:
            return False
        view = self.problem.view(frames.gradient_resolution(self))
        with torch.no_grad():
            g = self.model(view.grid.points).double()  # (M,)
            log_z = view.grid.log_integral(g)
            kl = float(view.grid.kl(view.log_pd, g - log_z))
            gap = float(self.model.log_z_est) - float(log_z) if method.learns_log_z else None
        blowup = grid_blowup(gap, kl)
        if blowup is not None:
            self._diverge(blowup)
        return blowup is not None

    def _note_rate(self, taken: int, seconds: float) -> None:
        """steps/s over windows of at least half a second of stepping time."""
        self._rate_steps += taken
        self._rate_seconds += seconds
        if self._rate_seconds >= 0.5:
            self.steps_per_s = self._rate_steps / self._rate_seconds
            self._rate_steps, self._rate_seconds = 0, 0.0

    def negatives_per_step(self) -> int:
        return self.negatives_for(self.config)

    @staticmethod
    def negatives_for(cfg: RunConfig) -> int:
        """Noise points one step of this config draws (0 for MLE and CPC)."""
        return METHODS[cfg.method].negatives(cfg)

    # the Problem's draws, under the names tests and models/batched.py use
    def _draw_data(self, n: int, gen: torch.Generator) -> torch.Tensor:  # (n, d) float32
        return self.problem.draw_data(n, gen)

    def _fixed_rows(self, n: int, gen: torch.Generator) -> torch.Tensor:  # (n,)
        return self.problem.fixed_rows(n, gen)

    def _draw_noise(self, data_rows: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """(N_n, d) float32 negatives for a step, drawn as the method's loss draws them (with `gen`)."""
        return METHODS[self.config.method].draw_noise(self, data_rows, self.negatives_per_step(), gen)

    def _log_q(self, x: torch.Tensor) -> torch.Tensor:
        return self.problem.log_q(x)

    # ------------------------------------------------------------------ reporting (models/frames.py)
    def frame(self, resolution: int | None = None, with_grad: bool = True, arrays: bool = True,
              static: bool = True) -> dict:
        """The current state as plain data (frames.frame)."""
        return frames.frame(self, resolution, with_grad, arrays, static)

    def gradient_frame(self) -> dict:
        """cos(g_nce, g_mle) and ‖g_nce‖/‖g_mle‖ over NR_LADDER and at the current nr (frames.gradient_frame)."""
        return frames.gradient_frame(self)
