"""Problem: what a config fixes before any training — the data density p_d and its box, its stats and
scale, the noise q, the fixed samples (`sample_size`), and grid views (a grid with log p_d and log q on
it, cached per resolution). The Trainer (the loop) holds one and draws its batches from it; frames read
its views. A live change of the noise or of the fixed sample updates it in place; a rebuild knob makes
a new one.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch

from . import stopping
from .config import RunConfig
from .data import CUSTOM, build_density, data_box
from .densities import Density
from .divergence import data_scale, untrainable_data
from .fixed_sample import draw_fixed_data, draw_fixed_noise
from .grid import Grid
from .kde_budget import check_kde_budget
from .methods import METHODS, data_name
from .noise import DataStats, build_noise

LOG_Q_FLOOR = -1e3      # keeps scores finite for data outside a bounded noise's support
BOX_SAMPLES = 50_000    # samples that place the quadrature box of a preset
# cells per axis of MLE's per-step log Z on a 2-D preset (frames still report log Z on `grid`): the
# coarsest that keeps |log Z_mle − log Z_128| under 1e-4 on trained models. Pinwheel's arms are 0.1
# across, and 64 cells (0.12 wide) miss its log Z by up to 3e-3. Presets not listed keep the training
# grid: correlated_gaussian's ridge narrows without bound as mi grows.
MLE_GRIDS_2D = {"eight_gaussians": 64, "two_moons": 64, "rings": 64, "checkerboard": 64, "spirals": 64,
                "pinwheel": 96}
NOISE_KNOBS = frozenset({"noise", "noise_fit", "noise_loc", "noise_scale"})


@dataclass
class GridView:
    """A grid with the fixed densities evaluated on it (float64)."""
    grid: Grid
    log_pd: torch.Tensor  # (M,)
    log_q: torch.Tensor | None  # (M,), None without a density (cpc)


def uses_uploaded_data(config: RunConfig) -> bool:
    return data_name(config) == CUSTOM


def check_kde_cost(config: RunConfig, samples: torch.Tensor | None) -> None:
    """Uploaded data's density costs rows × grid cells (kde_budget): refused before any work starts."""
    if uses_uploaded_data(config) and samples is not None:
        check_kde_budget(samples.shape[0], samples.shape[1], config.grid)


class Problem:
    def __init__(self, config: RunConfig, samples: torch.Tensor | None, device: torch.device,
                 stop: Callable[[], bool]):
        """samples: (n, d) custom data, required when the config trains on 'custom'. stop: see stopping.py."""
        self.config, self.device, self.stop = config, device, stop
        self.method = METHODS[config.method]
        self.custom = uses_uploaded_data(config)
        if self.custom and samples is None:
            raise ValueError("data: 'custom' needs samples")
        self.samples = samples if self.custom else None
        self.data: Density = build_density(data_name(config), config.mi, self.samples)
        self.dim = self.data.dim
        if self.custom:
            box_samples = self.samples
            self.custom_rows = self.samples.to(device, torch.float32)
        else:
            box_samples = self.data.sample(BOX_SAMPLES, torch.Generator().manual_seed(0))
        self.box = data_box(box_samples)  # (d, 2)
        self.stats = DataStats.of(self.data)
        self.data_scale = data_scale(self.box[:, 0].tolist(), self.box[:, 1].tolist())  # largest |x| of the box
        problem = untrainable_data(self.stats.mean.tolist() + self.stats.cov.reshape(-1).tolist(), self.data_scale)
        if problem is not None:  # else a bare LinAlgError from the noise's Cholesky, or NaN from step 0
            raise ValueError(problem)
        self.views: dict[int, GridView] = {}
        self.draw_fixed_data()
        self.build_noise()

    # ------------------------------------------------------------------ live changes
    def update(self, config: RunConfig, changed: set[str]) -> None:
        """A live change (no rebuild knob): the noise and the fixed samples follow the new config."""
        self.config = config
        if "sample_size" in changed:
            self.draw_fixed_data()
        if NOISE_KNOBS & changed:
            self.build_noise()
        elif {"sample_size", "nr", "k", "method"} & changed:
            self.draw_fixed_noise()  # its size follows N_r (or k) and the method

    def draw_fixed_data(self) -> None:
        """sample_size set: the T_d data points every step draws its minibatch from (else None)."""
        cfg = self.config
        self.fixed_data: torch.Tensor | None = None  # (T_d, d)
        if cfg.sample_size is not None:
            self.fixed_data = draw_fixed_data(self.data, cfg.sample_size, cfg.seed, self.device, self.samples)

    def draw_fixed_noise(self) -> None:
        """sample_size set: the noise points (the method's fixed_noise_count) drawn once (else None)."""
        cfg = self.config
        count = METHODS[cfg.method].fixed_noise_count(self.fixed_data.shape[0], cfg.nr, cfg.k) \
            if self.fixed_data is not None else 0
        self.fixed_noise: torch.Tensor | None = \
            draw_fixed_noise(self.noise, count, cfg.seed, self.device) if count else None  # (N, d)

    def build_noise(self) -> None:
        cfg = self.config
        self.noise = build_noise(cfg.noise, self.stats, self.box, cfg.noise_fit, cfg.noise_loc, cfg.noise_scale)
        self.draw_fixed_noise()
        for view in self.views.values():
            view.log_q = self._log_q_on(view.grid)

    def snapshot(self) -> "Problem":
        """A copy with its own views (a frame thread may add one, or a live noise change replace log q)."""
        copied = copy.copy(self)
        copied.views = {n: copy.copy(view) for n, view in self.views.items()}
        return copied

    # ------------------------------------------------------------------ grid views
    def view(self, n: int) -> GridView:
        """The grid with n cells per axis, with log p_d and log q on it (cached)."""
        if n not in self.views:
            grid = Grid(self.box, n, self.device)
            self.views[n] = GridView(grid, self._log_pd_on(grid), self._log_q_on(grid))
        return self.views[n]

    def _log_q_on(self, grid: Grid) -> torch.Tensor | None:
        return self.noise.log_prob(grid.points64) if self.method.has_density else None

    def _log_pd_on(self, grid: Grid) -> torch.Tensor:
        """log p_d at the cells (M,), in chunks of ~STOP_CHUNK_TERMS kernel terms with a look at `stop`
        between them: uploaded data's KDE costs rows × cells (kde_budget), up to seconds."""
        components = self.samples.shape[0] if self.custom else 64
        chunk = max(1, stopping.STOP_CHUNK_TERMS // components)
        log_pd = torch.empty(grid.size, dtype=torch.float64, device=grid.points64.device)  # (M,)
        for start in range(0, grid.size, chunk):  # written in place: see frames.model_on
            if self.stop():
                raise stopping.Stopped()
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
        n = self.config.grid
        if self.dim == 2 and self.method.has_density:
            n = min(n, MLE_GRIDS_2D.get(self.config.data, n))
        return self.view(n).grid

    # ------------------------------------------------------------------ draws
    def log_q(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise.log_prob(x).clamp_min(LOG_Q_FLOOR)

    def fixed_rows(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n,) indices into the fixed data sample: a minibatch (with replacement) of the T_d points."""
        return torch.randint(0, self.fixed_data.shape[0], (n,), generator=gen, device=self.device)

    def draw_data(self, n: int, gen: torch.Generator) -> torch.Tensor:  # (n, d) float32
        if self.fixed_data is not None:
            return self.fixed_data[self.fixed_rows(n, gen)]
        if self.custom:
            rows = torch.randint(0, self.custom_rows.shape[0], (n,), generator=gen, device=self.device)
            return self.custom_rows[rows]
        return self.data.sample(n, gen).to(torch.float32)

    def draw_batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A minibatch (n, d) and, from a fixed sample, its rows in it (n,) (which pick InfoNCE's noise)."""
        if self.fixed_data is None:
            return self.draw_data(n, gen), None
        rows = self.fixed_rows(n, gen)
        return self.fixed_data[rows], rows
