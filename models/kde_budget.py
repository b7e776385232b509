"""The bound on the cost of uploaded data's density: rows × grid cells.

p_d of uploaded data is a Gaussian kernel density estimate over its n rows (densities.KernelDensity),

    p_d(x) = (1/n) Σ_j N(x; x_j, diag h²),

so evaluating it on a grid of M = grid^d cells costs n·M kernel terms (float64). A run evaluates it
on its training grid, then on the frames' and the gradient comparison's grids (at most 48² and 64²
cells in 2-D): at most ~2.6 · n · grid^d terms in all, once per build, before the first step.

Measured on one core of the 2-core VM (KernelDensity.log_prob, 2-D, float64): 4.5e6 terms/s while
other work shares the cores, ~1e7 when alone. With n · grid^d ≤ MAX_KDE_TERMS = 1e8 a start costs
~10–60 s at worst (and is cut short when its socket closes, see Trainer.stop), not the hours that
100,000 2-D rows at grid 512 (2.6e10 terms) asked for. The bound never binds in 1-D (100,000 rows × 512 cells = 5e7);
in 2-D it allows 6,100 rows at the default grid 128, or 100,000 rows at grid 31.
Checked before any work starts (Trainer build and live rebuild), so a refused config changes nothing.
"""
from __future__ import annotations

import math

from .config import ConfigError, RunConfig

MAX_KDE_TERMS = 100_000_000  # rows × grid cells


def kde_terms(rows: int, dim: int, grid: int) -> int:
    """n · grid^d: kernel terms of one evaluation of the KDE on the training grid."""
    return rows * grid ** dim


def check_kde_budget(rows: int, dim: int, grid: int) -> None:
    """ConfigError naming `grid` and `data_file` and the bound when rows × grid cells > MAX_KDE_TERMS."""
    terms = kde_terms(rows, dim, grid)
    if terms <= MAX_KDE_TERMS:
        return
    cells = grid ** dim
    shape = " × ".join([str(grid)] * dim)
    largest_grid = int(math.floor((MAX_KDE_TERMS / rows) ** (1.0 / dim)))
    lowest = next(m.ge for m in RunConfig.model_fields["grid"].metadata if hasattr(m, "ge"))  # the knob's own bound
    fewer_rows = f"upload at most {MAX_KDE_TERMS // cells:,} rows for grid {grid}"
    remedy = f"lower grid to {largest_grid} or less, or {fewer_rows}" if largest_grid >= lowest else fewer_rows
    raise ConfigError([f"grid: the density of the {rows:,} uploaded rows (data_file) on {shape} = {cells:,} grid "
                       f"cells is {_sci(terms)} kernel terms; the limit is rows × grid cells ≤ {_sci(MAX_KDE_TERMS)}: "
                       f"{remedy}"])


def _sci(value: float) -> str:
    """2.6e10, 1e8."""
    return f"{value:.2g}".replace("e+0", "e").replace("e+", "e")
