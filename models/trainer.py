"""Trainer: owns one model and its data/noise, steps it, takes live config patches, and reports
frames as plain data. It knows nothing of sockets or files (minGPT's trainer: it reports, it does
not talk); the server and the CLI call it.

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

from .averaging import ParameterAverage, copy_parameters
from .chunked_mle import accumulate_log_z_gradient, raise_when
from .chunked_steps import (accumulate_cpc_gradient, accumulate_infonce_gradient, accumulate_nce_gradient,
                            chunk_points, cpc_loss_in_rows, cpc_rows_per_chunk)
from .config import RunConfig
from .coverage import noise_coverage
from .cpc import PairCritic
from .data import CUSTOM, build_density, data_box
from .densities import Density
from .divergence import (CHECK_EVERY, data_scale, divergence_message, grid_blowup, loss_blowup,
                         untrainable_data)
from .energy import EnergyModel, build_energy
from .fixed_sample import draw_fixed_data, draw_fixed_noise, fixed_noise_count
from .gradients import NR_LADDER, compare, noise_weight, population_gradients
from .grid import Grid
from .kde_budget import check_kde_budget
from .noise import DataStats, build_noise
from .objectives import cpc_loss, infonce_loss, mle_loss, nce_logit, nce_loss

MAX_NEGATIVES = 65_536  # per step; above this N_r only reweights (the loss stays unbiased), it adds no samples
LOG_Q_FLOOR = -1e3      # keeps scores finite for data outside a bounded noise's support
GRAD_GRID_2D = 64       # cells per axis for the 2-D gradient comparison (cost per frame; 48 moves cos by up to 3e-2)
GRAD_DTYPE_2D = torch.float32  # its Σ_c v ∇θG contraction in 2-D: 4x faster than float64, cos moves by ~1e-8
# cells per axis of MLE's per-step log Z on a 2-D preset (frames still report log Z on `grid`): the
# coarsest that keeps |log Z_mle − log Z_128| under 1e-4 on trained models. Pinwheel's arms are 0.1
# across, and 64 cells (0.12 wide) miss its log Z by up to 3e-3. Presets not listed keep the training
# grid: correlated_gaussian's ridge narrows without bound as mi grows.
MLE_GRIDS_2D = {"eight_gaussians": 64, "two_moons": 64, "rings": 64, "checkerboard": 64, "spirals": 64,
                "pinwheel": 96}
POINTS_SHOWN = 256      # data and noise points sent with a frame
BOX_SAMPLES = 50_000    # samples that place the quadrature box of a preset

# density terms (points × components) per piece of log p_d on a grid, with a look at `stop` between pieces
# (~30 ms each). Pieces of 2e6 terms made (piece, rows, 2) float64 temporaries of 32 MB, just under glibc's
# largest mmap threshold: freed into the heap, they left 250-750 MB resident after one 2-D upload at grid
# 512; pieces of 2.5e5 leave ~25 MB, no slower (models/cost.py counts what remains).
STOP_CHUNK_TERMS = 250_000
STOP_CHUNK_POINTS = 16_384   # model evaluations between two looks at `stop` in a frame (all of a 128² grid)
# MLE's log Z on a grid of more than STOP_CHUNK_POINTS cells (custom data up to 512²) runs in chunks of this
# many cells, forward and backward, with a look at `stop` between them: ~0.6 s per chunk at hidden 256,
# depth 4 on a loaded VM (one fused pass over 512² cells took 41 s). Smaller grids keep the fused pass.
STOP_CHUNK_MLE_POINTS = 4_096
# NCE's and InfoNCE's step over more points than chunked_steps.chunk_points (16,384 at the defaults' width,
# 4,096 at hidden 256, depth 4) runs in chunks of that many, forward and backward, with a look at `stop`
# between them and the negatives drawn chunk by chunk: InfoNCE's k · batch_size negatives reach 4,194,304
# (one fused pass grew to 24 GB). Smaller steps (every default) keep the fused pass. CPC's B × B scores go
# in chunks of rows past chunked_steps.CPC_CHUNK_SCORES (batch_size > 1,024).


class Stopped(Exception):
    """Raised inside heavy work when the Trainer's `stop` callable says its caller has gone."""


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
    if (old.method == "cpc") != (new.method == "cpc"):
        return True  # a critic of pairs is a different model
    uses_mi = new.method == "cpc" or new.data == "correlated_gaussian"
    return uses_mi and old.mi != new.mi


@dataclass
class ApplyResult:
    config: RunConfig
    rebuilt: bool
    changed: list[str] = field(default_factory=list)


@dataclass
class _GridView:
    """A grid with the fixed densities evaluated on it (float64)."""
    grid: Grid
    log_pd: torch.Tensor  # (M,)
    log_q: torch.Tensor | None  # (M,), None for cpc


def _init_parameters(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from our own generator (thread-safe, reproducible)."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
                if not layer.bias.requires_grad:  # a frozen bias (energy.offset_is_free) stays 0; drawn all
                    layer.bias.zero_()            # the same, so every other layer starts where it did


def _plain(t: torch.Tensor) -> list:
    """A tensor as JSON-safe lists: non-finite values become None."""
    values = t.detach().to("cpu", torch.float64)
    if bool(torch.isfinite(values).all()):
        return values.tolist()
    flat = [v if math.isfinite(v) else None for v in values.reshape(-1).tolist()]
    if values.dim() == 2:
        width = values.shape[1]
        return [flat[i:i + width] for i in range(0, len(flat), width)]
    return flat


def _scalar(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _sizes(total: int, chunk: int) -> list[int]:
    """total split into pieces of `chunk` (the last one smaller)."""
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def _check_kde_cost(config: RunConfig, samples: torch.Tensor | None) -> None:
    """Uploaded data's density costs rows × grid cells (kde_budget): refused before any work starts."""
    if config.data == CUSTOM and config.method != "cpc" and samples is not None:
        check_kde_budget(samples.shape[0], samples.shape[1], config.grid)


class Trainer:
    def __init__(self, config: RunConfig, samples: torch.Tensor | None = None,
                 stop: Callable[[], bool] | None = None):
        """samples: (n, d) custom data, required when config.data == 'custom'. stop: a callable that
        returns True once the caller has gone (heavy work then raises Stopped within ~0.5 s)."""
        self.config = config
        self.samples = samples
        self.stop = stop or (lambda: False)
        _check_kde_cost(config, samples)
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        cfg = self.config
        self.device = resolve_device(cfg.device)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)  # training draws only
        self.view_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)  # frames' draws
        init_gen = torch.Generator().manual_seed(cfg.seed)
        self._views: dict[int, _GridView] = {}
        self.step_count = 0
        self.state, self.message = "ok", None
        self.last_loss: float | None = None
        self._loss_reference: float | None = None  # divergence rule 2: the first loss since a build or change
        self._rate_steps, self._rate_seconds = 0, 0.0
        self._steps_per_s: float | None = None
        self._snapshot_of: nn.Module | None = None

        if cfg.method == "cpc":
            self.data: Density = build_density("correlated_gaussian", cfg.mi)
            self.dim = 2
            self.model: nn.Module = PairCritic(cfg.hidden, cfg.depth)
            box_samples = self.data.sample(BOX_SAMPLES, torch.Generator().manual_seed(0))
        else:
            if cfg.data == CUSTOM and self.samples is None:
                raise ValueError("data: 'custom' needs samples")
            self.data = build_density(cfg.data, cfg.mi, self.samples if cfg.data == CUSTOM else None)
            self.dim = self.data.dim
            self.model = build_energy(cfg.model, self.dim, cfg.hidden, cfg.depth, cfg.learn_log_z, cfg.method)
            if cfg.data == CUSTOM:
                box_samples = self.samples
                self._custom_rows = self.samples.to(self.device, torch.float32)
            else:
                box_samples = self.data.sample(BOX_SAMPLES, torch.Generator().manual_seed(0))
        self.box = data_box(box_samples)  # (d, 2)
        self.stats = DataStats.of(self.data)
        self.data_scale = data_scale(self.box[:, 0].tolist(), self.box[:, 1].tolist())  # largest |x| of the box
        problem = untrainable_data(self.stats.mean.tolist() + self.stats.cov.reshape(-1).tolist(), self.data_scale)
        if problem is not None:  # else a bare LinAlgError from the noise's Cholesky, or NaN from step 0
            raise ValueError(problem)
        _init_parameters(self.model, init_gen)
        self.model.to(self.device)
        self.average: ParameterAverage | None = ParameterAverage(self.model)  # θ̄, what frames show
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, foreach=True)
        self._draw_fixed_data()
        self._build_noise()

    def _draw_fixed_data(self) -> None:
        """sample_size set: the T_d data points every step draws its minibatch from (else None)."""
        cfg = self.config
        self.fixed_data: torch.Tensor | None = None  # (T_d, d)
        if cfg.sample_size is not None:
            rows = self.samples if cfg.data == CUSTOM and cfg.method != "cpc" else None
            self.fixed_data = draw_fixed_data(self.data, cfg.sample_size, cfg.seed, self.device, rows)

    def _draw_fixed_noise(self) -> None:
        """sample_size set: the noise points (round(N_r·T_d), or k per data point) drawn once (else None)."""
        cfg = self.config
        count = fixed_noise_count(cfg.method, self.fixed_data.shape[0], cfg.nr, cfg.k) \
            if self.fixed_data is not None else 0
        self.fixed_noise: torch.Tensor | None = \
            draw_fixed_noise(self.noise, count, cfg.seed, self.device) if count else None  # (N, d)

    def _build_noise(self) -> None:
        cfg = self.config
        self.noise = build_noise(cfg.noise, self.stats, self.box, cfg.noise_fit, cfg.noise_loc, cfg.noise_scale)
        self._draw_fixed_noise()
        for view in self._views.values():
            view.log_q = self._log_q_on(view.grid)

    def _log_q_on(self, grid: Grid) -> torch.Tensor | None:
        return None if self.config.method == "cpc" else self.noise.log_prob(grid.points64)

    def view(self, n: int) -> _GridView:
        """The grid with n cells per axis, with log p_d and log q on it (cached)."""
        if n not in self._views:
            grid = Grid(self.box, n, self.device)
            self._views[n] = _GridView(grid, self._log_pd_on(grid), self._log_q_on(grid))
        return self._views[n]

    def _log_pd_on(self, grid: Grid) -> torch.Tensor:
        """log p_d at the cells (M,), in chunks of ~STOP_CHUNK_TERMS kernel terms with a look at `stop`
        between them: uploaded data's KDE costs rows × cells (kde_budget), up to seconds."""
        components = self.samples.shape[0] if self.samples is not None and self.config.data == CUSTOM else 64
        chunk = max(1, STOP_CHUNK_TERMS // components)
        log_pd = torch.empty(grid.size, dtype=torch.float64, device=grid.points64.device)  # (M,)
        for start in range(0, grid.size, chunk):  # written in place: see _model_on
            if self.stop():
                raise Stopped()
            log_pd[start:start + chunk] = self.data.log_prob(grid.points64[start:start + chunk])
        return log_pd

    @property
    def grid(self) -> Grid:
        return self.view(self.config.grid).grid

    @property
    def mle_grid(self) -> Grid:
        """The grid of MLE's per-step log Z: at most MLE_GRIDS_2D cells per axis on a 2-D preset listed
        there (a quarter of the points of the default 128), else the training grid (1-D grids cost
        little; custom data has no measured bound). Frames report log_z_true and kl on `grid`."""
        n = min(self.config.grid, MLE_GRIDS_2D.get(self.config.data, self.config.grid)) \
            if self.dim == 2 and self.config.method != "cpc" else self.config.grid
        return self.view(n).grid

    # ------------------------------------------------------------------ live changes
    def apply(self, patch: dict, samples: torch.Tensor | None = None) -> ApplyResult:
        """Apply a partial config. Validates the whole result first (ConfigError on failure, nothing
        changed). Knobs in REBUILD_KNOBS (and a switch to or from cpc) rebuild the model from step 0;
        the rest (nr, k, noise, lr, method, batch_size, steps, learn_log_z, ...) act on the running model.
        `samples`: new custom data that comes with a changed data_file."""
        new = self.config.patched(patch)
        changed = [k for k in RunConfig.model_fields if getattr(new, k) != getattr(self.config, k)]
        if not changed:
            return ApplyResult(new, False, [])
        if needs_rebuild(self.config, new):
            resolve_device(new.device)  # fail before touching anything
            _check_kde_cost(new, samples if samples is not None else self.samples)
            old_samples = self.samples
            if samples is not None:
                self.samples = samples
            if new.data == CUSTOM and self.samples is None:
                self.samples = old_samples
                raise ValueError("data: 'custom' needs samples")
            old = self.config
            self.config = new
            try:
                self._build()
            except Exception:
                self.config, self.samples = old, old_samples
                self._build()
                raise
            return ApplyResult(new, True, changed)
        old, self.config = self.config, new
        self._loss_reference = None  # the objective may have changed scale (e.g. N_r): divergence rule 2
        if "sample_size" in changed:
            self._draw_fixed_data()
        if {"noise", "noise_fit", "noise_loc", "noise_scale"} & set(changed):
            self._build_noise()
        elif {"sample_size", "nr", "k", "method"} & set(changed):
            self._draw_fixed_noise()  # its size follows N_r (or k) and the method
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
        copied._views = {n: copy.copy(view) for n, view in self._views.items()}
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

    def _diverge(self, what: str) -> None:
        self.state = "diverged"
        self.message = divergence_message(what, self.step_count, self.data_scale, self.config.lr,
                                          RunConfig.model_fields["lr"].default)

    def _grid_blowup(self) -> bool:
        """Divergence rule 3 on the frames' coarse grid: |log Ẑ − log Z| (NCE) and KL(p_d ‖ p_θ)."""
        cfg = self.config
        if cfg.method == "cpc":
            return False
        view = self.view(cfg.grid if self.dim == 1 else min(cfg.grid, GRAD_GRID_2D))
        with torch.no_grad():
            g = self.model(view.grid.points).double()  # (M,)
            log_z = view.grid.log_integral(g)
            kl = float(view.grid.kl(view.log_pd, g - log_z))
            gap = float(self.model.log_z_est) - float(log_z) if cfg.method == "nce" else None
        blowup = grid_blowup(gap, kl)
        if blowup is not None:
            self._diverge(blowup)
        return blowup is not None

    def _note_rate(self, taken: int, seconds: float) -> None:
        """steps/s over windows of at least half a second of stepping time."""
        self._rate_steps += taken
        self._rate_seconds += seconds
        if self._rate_seconds >= 0.5:
            self._steps_per_s = self._rate_steps / self._rate_seconds
            self._rate_steps, self._rate_seconds = 0, 0.0

    def _draw_data(self, n: int, gen: torch.Generator) -> torch.Tensor:  # (n, d) float32
        if self.fixed_data is not None:
            return self.fixed_data[self._fixed_rows(n, gen)]
        if self.config.method != "cpc" and self.config.data == CUSTOM:
            rows = torch.randint(0, self._custom_rows.shape[0], (n,), generator=gen, device=self.device)
            return self._custom_rows[rows]
        return self.data.sample(n, gen).to(torch.float32)

    def _fixed_rows(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n,) indices into the fixed data sample: a minibatch (with replacement) of the T_d points."""
        return torch.randint(0, self.fixed_data.shape[0], (n,), generator=gen, device=self.device)

    def _draw_noise(self, data_rows: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """(N_n, d) float32 negatives for a step. Fixed sample: NCE takes N_n of its noise points;
        InfoNCE takes the k points paired with each chosen data row (`data_rows`)."""
        if self.fixed_noise is None:
            return self.noise.sample(self.negatives_per_step(), gen).to(torch.float32)
        if self.config.method == "infonce":
            k = self.config.k
            rows = (data_rows.unsqueeze(1) * k + torch.arange(k, device=self.device)).reshape(-1)  # (B·k,)
        else:
            rows = torch.randint(0, self.fixed_noise.shape[0], (self.negatives_per_step(),), generator=gen,
                                 device=self.device)
        return self.fixed_noise[rows]

    def negatives_per_step(self) -> int:
        return self.negatives_for(self.config)

    @staticmethod
    def negatives_for(cfg: RunConfig) -> int:
        """Noise points one step of this config draws (0 for MLE and CPC)."""
        if cfg.method == "nce":
            return int(min(MAX_NEGATIVES, max(1, round(cfg.nr * cfg.batch_size))))
        if cfg.method == "infonce":
            return cfg.k * cfg.batch_size
        return 0

    def _log_q(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise.log_prob(x).clamp_min(LOG_Q_FLOOR)

    def _loss(self) -> torch.Tensor:
        cfg, batch = self.config, self.config.batch_size
        if cfg.method == "cpc":
            pairs = self._draw_data(batch, self.gen)  # (B, 2)
            rows = cpc_rows_per_chunk(batch)
            if rows < batch:  # B × B scores in chunks of rows (chunked_steps.py); detached, its gradient in .grad
                return accumulate_cpc_gradient(self.model.embed_x, self.model.embed_y, pairs[:, :1], pairs[:, 1:],
                                               rows, raise_when(self.stop, Stopped))
            return cpc_loss(self.model.scores(pairs[:, :1], pairs[:, 1:]))
        data_rows = self._fixed_rows(batch, self.gen) if self.fixed_data is not None else None  # (B,)
        x_data = self.fixed_data[data_rows] if data_rows is not None else self._draw_data(batch, self.gen)  # (B, d)
        if cfg.method == "mle":
            quadrature = self.mle_grid
            if quadrature.size > min(STOP_CHUNK_POINTS, self._chunk_points()):  # ∇ log Z into .grad chunk by chunk
                log_z_true = accumulate_log_z_gradient(self.model, quadrature, STOP_CHUNK_MLE_POINTS,
                                                       raise_when(self.stop, Stopped))
                return mle_loss(self.model(x_data), log_z_true)
            g = self.model(torch.cat([x_data, quadrature.points]))  # one forward: data and grid
            log_z_true = quadrature.log_integral(g[batch:])
            return mle_loss(g[:batch], log_z_true)
        negatives = self.negatives_per_step()
        if batch + negatives > self._chunk_points():
            return self._chunked_loss(x_data, data_rows, negatives)  # detached: its gradient is in .grad
        x_noise = self._draw_noise(data_rows, self.gen)  # (N_n, d)
        x_all = torch.cat([x_data, x_noise])  # (B + N_n, d)
        g = self.model(x_all)  # positives and negatives in one pass
        log_q = self._log_q(x_all)
        if cfg.method == "nce":
            return nce_loss(g[:batch], g[batch:], log_q[:batch], log_q[batch:], self.model.log_z_est, cfg.nr)
        scores = g - log_q  # infonce
        return infonce_loss(scores[:batch], scores[batch:].reshape(batch, cfg.k))

    def _chunk_points(self) -> int:
        return chunk_points(self.config.model, self.config.hidden, self.config.depth)

    def _chunked_loss(self, x_data: torch.Tensor, data_rows: torch.Tensor | None, negatives: int) -> torch.Tensor:
        """NCE's or InfoNCE's loss and gradient over chunks of ~_chunk_points() points (models/chunked_steps.py),
        the negatives drawn (or, from a fixed sample, gathered) chunk by chunk.   x_data: (B, d)"""
        cfg, chunk = self.config, self._chunk_points()
        between_chunks = raise_when(self.stop, Stopped)
        if cfg.method == "nce":
            rows = None if self.fixed_noise is None else \
                torch.randint(0, self.fixed_noise.shape[0], (negatives,), generator=self.gen, device=self.device)
            noise_chunks = (self.fixed_noise[part] for part in rows.split(chunk)) if rows is not None else \
                (self.noise.sample(size, self.gen).to(torch.float32) for size in _sizes(negatives, chunk))
            return accumulate_nce_gradient(self.model, x_data, noise_chunks, negatives, self._log_q, cfg.nr,
                                           chunk, between_chunks)
        k = cfg.k
        rows_per_chunk = max(1, chunk // (1 + k))

        def row_chunks():
            for start in range(0, x_data.shape[0], rows_per_chunk):
                x_pos = x_data[start:start + rows_per_chunk]  # (r, d)
                if self.fixed_noise is None:
                    x_neg = self.noise.sample(x_pos.shape[0] * k, self.gen).to(torch.float32)  # (r·k, d)
                else:  # the k points paired with each chosen data row, as _draw_noise takes them
                    chosen = data_rows[start:start + rows_per_chunk].unsqueeze(1)  # (r, 1)
                    x_neg = self.fixed_noise[(chosen * k + torch.arange(k, device=self.device)).reshape(-1)]
                yield x_pos, x_neg
        return accumulate_infonce_gradient(self.model, row_chunks(), x_data.shape[0], self._log_q, between_chunks)

    # ------------------------------------------------------------------ reporting
    def frame(self, resolution: int | None = None, with_grad: bool = True, arrays: bool = True,
              static: bool = True) -> dict:
        """The current state as plain data. Scalars always come from the training grid; the arrays
        (grid, points) are on a grid of `resolution` cells per axis (default: the training grid), or
        left out with arrays=False. static=False leaves out the grid parts that change only with the
        config (axes, log_pd, log_q), for a caller that already has them."""
        if self.stop():
            raise Stopped()
        cfg = self.config
        out = {
            "step": self.step_count,
            "loss": _scalar(self.last_loss),
            "state": self.state,
            "message": self.message,
            "lr": self.current_lr(),
            "steps_per_s": _scalar(self._steps_per_s),
            "device": self.device.type,
            "dim": self.dim,
            "negatives_per_step": self.negatives_per_step(),
            "log_z_est": None, "log_z_true": None, "kl": None,
            "grad_cos": None, "grad_norm_ratio": None,
            "mi_estimate": None, "mi_true": None, "mi_cap": None,
            "noise_coverage": None,
            "sample_size": None if self.fixed_data is None else self.fixed_data.shape[0],
            "fixed_noise": None if self.fixed_noise is None else self.fixed_noise.shape[0],
            "p_d": "kde" if cfg.data == CUSTOM and cfg.method != "cpc" else "exact",
        }
        view = self.view(resolution or cfg.grid) if arrays else None
        with torch.no_grad():
            if cfg.method == "cpc":
                out.update(self._cpc_frame(view))
            else:
                out.update(self._density_frame(view))
        if view is not None and static:
            out["grid"].update(self._static_arrays(view))
        if with_grad and cfg.method != "cpc" and self.state != "diverged":
            out["grad"] = self.gradient_frame()
            out["grad_cos"] = out["grad"]["cos_current"]
            out["grad_norm_ratio"] = out["grad"]["norm_ratio_current"]
        return out

    def _density_frame(self, view: _GridView | None) -> dict:
        cfg = self.config
        train = self.view(cfg.grid)
        g_train = self._model_on(train.grid.points)  # (M,) one pass serves Z, KL and same-grid arrays
        log_z_true = train.grid.log_integral(g_train)
        has_log_z = cfg.method != "mle"
        out = {
            "log_z_est": float(self.shown.log_z_est.detach()) if has_log_z else None,
            "log_z_true": _scalar(log_z_true),
            "kl": _scalar(train.grid.kl(train.log_pd, g_train - log_z_true)),
            "noise_coverage": noise_coverage(train.log_pd, train.log_q, cfg.nr),  # share of p_d that N_r q reaches
        }
        if view is None:
            return out
        g = g_train if view is train else self._model_on(view.grid.points)  # (M,)
        log_p = g - log_z_true
        log_z_est = self.shown.log_z_est.double() if has_log_z else log_z_true
        posterior = torch.sigmoid(nce_logit(g, log_z_est, view.log_q, cfg.nr))  # P(C=1|x), the model's own
        shape = (view.grid.n, view.grid.n) if self.dim == 2 else (view.grid.n,)
        data_points = self._draw_data(POINTS_SHOWN, self.view_gen)
        if self.fixed_noise is not None:  # show points of the sample it trains on
            noise_points = self.fixed_noise[torch.randint(0, self.fixed_noise.shape[0], (POINTS_SHOWN,),
                                                          generator=self.view_gen, device=self.device)]
        else:
            noise_points = self.noise.sample(POINTS_SHOWN, self.view_gen)
        out["grid"] = {
            "log_p": _plain(log_p.reshape(shape)),
            "log_p_self": _plain((g - log_z_est).reshape(shape)) if has_log_z else None,
            "weight": _plain(noise_weight(log_p, view.log_q, cfg.nr).reshape(shape)),
            "posterior": _plain(posterior.reshape(shape)),
        }
        out["points"] = {"data": _plain(data_points.T), "noise": _plain(noise_points.T)}
        return out

    def _model_on(self, points: torch.Tensor) -> torch.Tensor:
        """G at many points (M, d) -> (M,) float64, in chunks of at most STOP_CHUNK_POINTS (fewer for a wide
        model: its layers stay a few MB) with a look at `stop` between them (a 512² grid with a wide model
        takes seconds). Each chunk is written into one output: a list of small results kept between the big
        freed layers pinned glibc's heap, which grew by ~4 MB a chunk (270 MB for one frame at grid 512)."""
        chunk = min(STOP_CHUNK_POINTS, self._chunk_points())
        g = torch.empty(points.shape[0], dtype=torch.float64, device=points.device)  # (M,)
        for start in range(0, points.shape[0], chunk):
            if start and self.stop():
                raise Stopped()
            g[start:start + chunk] = self.shown(points[start:start + chunk])
        return g

    def _static_arrays(self, view: _GridView) -> dict:
        shape = (view.grid.n, view.grid.n) if self.dim == 2 else (view.grid.n,)
        static = {"axes": view.grid.axes_lists(), "log_pd": _plain(view.log_pd.reshape(shape))}
        if view.log_q is not None:
            static["log_q"] = _plain(view.log_q.clamp_min(-1e4).reshape(shape))
        return static

    def _cpc_frame(self, view: _GridView | None) -> dict:
        cfg = self.config
        estimates = []
        rows = cpc_rows_per_chunk(cfg.batch_size)
        for _ in range(4):  # average a few fresh batches: the per-step loss is noisy
            pairs = self._draw_data(cfg.batch_size, self.view_gen)
            if rows < cfg.batch_size:  # B × B scores a few rows at a time
                loss = cpc_loss_in_rows(self.shown.embed_x, self.shown.embed_y, pairs[:, :1], pairs[:, 1:], rows)
            else:
                loss = float(cpc_loss(self.shown.scores(pairs[:, :1], pairs[:, 1:])))
            estimates.append(math.log(cfg.batch_size) - loss)
        out = {"mi_estimate": sum(estimates) / len(estimates), "mi_true": cfg.mi, "mi_cap": math.log(cfg.batch_size)}
        if view is None:
            return out
        points = view.grid.points
        critic = self.shown.pair_score(points[:, :1], points[:, 1:])  # f(x, y) on the grid
        shape = (view.grid.n, view.grid.n)
        return {
            **out,
            "grid": {
                "critic": _plain(critic.reshape(shape)),
            },
            "points": {"data": _plain(self._draw_data(POINTS_SHOWN, self.view_gen).T), "noise": None},
        }

    def gradient_frame(self) -> dict:
        """cos(g_nce, g_mle) and ‖g_nce‖/‖g_mle‖ over NR_LADDER and at the current nr.
        1-D: on the training grid, all float64. 2-D: on at most GRAD_GRID_2D cells per axis, with the
        contraction over cells in GRAD_DTYPE_2D (G and the loss cotangents stay float64)."""
        if self.stop():
            raise Stopped()
        n = self.config.grid if self.dim == 1 else min(self.config.grid, GRAD_GRID_2D)
        dtype = torch.float64 if self.dim == 1 else GRAD_DTYPE_2D
        view = self.view(n)
        nr_values = NR_LADDER + [self.config.nr]
        g_mle, g_nce = population_gradients(self.shown, view.grid.points64, view.grid.log_cell,
                                            view.log_pd, view.log_q, nr_values, dtype, raise_when(self.stop, Stopped))
        cos, ratio = compare(g_mle, g_nce)
        cos_list, ratio_list = _plain(cos), _plain(ratio)
        return {"nr": NR_LADDER, "cos": cos_list[:-1], "norm_ratio": ratio_list[:-1],
                "nr_current": self.config.nr, "cos_current": cos_list[-1], "norm_ratio_current": ratio_list[-1]}
