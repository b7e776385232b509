"""Frames: a Trainer's state as plain data (what the page draws and the CLI records).

frame(run) reads `run` (a Trainer or a snapshot of one): its config, its shown model θ̄ (`shown`),
its Problem's grid views and samples, and its frames' generator (`view_gen`). Scalars always come from
the training grid; the arrays (grid, points) from a grid of `resolution` cells per axis. Which parts a
frame has follows the method's capabilities (models/methods.py): a density (p_θ, KL, log Z, posterior,
the gradient comparison) or a critic of pairs (CPC's f(x, y) and its MI estimate).

Arrays leave as JSON-safe lists (`plain`, non-finite values as None): the CLI writes frames into
RESULT.json and the server sends them as they are, so this is the one converter.
"""
from __future__ import annotations

import math

import torch

from . import stopping
from .chunked_mle import raise_when
from .chunked_steps import chunk_points
from .coverage import noise_coverage
from .gradients import NR_LADDER, compare, noise_weight, population_gradients
from .methods import METHODS
from .objectives import nce_logit
from .problem import GridView, uses_uploaded_data

POINTS_SHOWN = 256      # data and noise points sent with a frame
GRAD_GRID_2D = 64       # cells per axis for the 2-D gradient comparison (cost per frame; 48 moves cos by up to 3e-2)
GRAD_DTYPE_2D = torch.float32  # its Σ_c v ∇θG contraction in 2-D: 4x faster than float64, cos moves by ~1e-8
MI_BATCHES = 4          # fresh batches CPC's MI estimate averages: the per-step loss is noisy


def plain(t: torch.Tensor) -> list:
    """A tensor as JSON-safe lists: non-finite values become None."""
    values = t.detach().to("cpu", torch.float64)
    if bool(torch.isfinite(values).all()):
        return values.tolist()
    flat = [v if math.isfinite(v) else None for v in values.reshape(-1).tolist()]
    if values.dim() == 2:
        width = values.shape[1]
        return [flat[i:i + width] for i in range(0, len(flat), width)]
    return flat


def scalar(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def gradient_resolution(run) -> int:
    """Cells per axis of the gradient comparison (and of divergence rule 3's check)."""
    return run.config.grid if run.problem.dim == 1 else min(run.config.grid, GRAD_GRID_2D)


def frame(run, resolution: int | None = None, with_grad: bool = True, arrays: bool = True,
          static: bool = True) -> dict:
    """The current state as plain data; arrays=False leaves out grid and points, static=False the grid
    parts that change only with the config (axes, log_pd, log_q), for a caller that already has them."""
    if run.stop():
        raise stopping.Stopped()
    cfg, problem = run.config, run.problem
    method = METHODS[cfg.method]
    out = {
        "step": run.step_count,
        "loss": scalar(run.last_loss),
        "state": run.state,
        "message": run.message,
        "lr": run.current_lr(),
        "steps_per_s": scalar(run.steps_per_s),
        "device": run.device.type,
        "dim": problem.dim,
        "negatives_per_step": method.negatives(cfg),
        "log_z_est": None, "log_z_true": None, "kl": None,
        "grad_cos": None, "grad_norm_ratio": None,
        "mi_estimate": None, "mi_true": None, "mi_cap": None,
        "noise_coverage": None,
        "sample_size": None if problem.fixed_data is None else problem.fixed_data.shape[0],
        "fixed_noise": None if problem.fixed_noise is None else problem.fixed_noise.shape[0],
        "p_d": "kde" if uses_uploaded_data(cfg) else "exact",
    }
    view = problem.view(resolution or cfg.grid) if arrays else None
    with torch.no_grad():
        out.update(density_frame(run, view) if method.has_density else pair_frame(run, view))
    if view is not None and static:
        out["grid"].update(static_arrays(view, problem.dim))
    if with_grad and method.has_gradient_comparison and run.state != "diverged":
        out["grad"] = gradient_frame(run)
        out["grad_cos"] = out["grad"]["cos_current"]
        out["grad_norm_ratio"] = out["grad"]["norm_ratio_current"]
    return out


def density_frame(run, view: GridView | None) -> dict:
    cfg, problem, shown = run.config, run.problem, run.shown
    reports_log_z = METHODS[cfg.method].has_log_z_parameter
    train = problem.view(cfg.grid)
    g_train = model_on(run, train.grid.points)  # (M,) one pass serves Z, KL and same-grid arrays
    log_z_true = train.grid.log_integral(g_train)
    out = {
        "log_z_est": float(shown.log_z_est.detach()) if reports_log_z else None,
        "log_z_true": scalar(log_z_true),
        "kl": scalar(train.grid.kl(train.log_pd, g_train - log_z_true)),
        "noise_coverage": noise_coverage(train.log_pd, train.log_q, cfg.nr),  # share of p_d that N_r q reaches
    }
    if view is None:
        return out
    g = g_train if view is train else model_on(run, view.grid.points)  # (M,)
    log_p = g - log_z_true
    log_z_est = shown.log_z_est.double() if reports_log_z else log_z_true
    posterior = torch.sigmoid(nce_logit(g, log_z_est, view.log_q, cfg.nr))  # P(C=1|x), the model's own
    shape = (view.grid.n, view.grid.n) if problem.dim == 2 else (view.grid.n,)
    data_points = problem.draw_data(POINTS_SHOWN, run.view_gen)
    if problem.fixed_noise is not None:  # show points of the sample it trains on
        noise_points = problem.fixed_noise[torch.randint(0, problem.fixed_noise.shape[0], (POINTS_SHOWN,),
                                                         generator=run.view_gen, device=run.device)]
    else:
        noise_points = problem.noise.sample(POINTS_SHOWN, run.view_gen)
    out["grid"] = {
        "log_p": plain(log_p.reshape(shape)),
        "log_p_self": plain((g - log_z_est).reshape(shape)) if reports_log_z else None,
        "weight": plain(noise_weight(log_p, view.log_q, cfg.nr).reshape(shape)),
        "posterior": plain(posterior.reshape(shape)),
    }
    out["points"] = {"data": plain(data_points.T), "noise": plain(noise_points.T)}
    return out


def model_on(run, points: torch.Tensor) -> torch.Tensor:
    """G at many points (M, d) -> (M,) float64, in chunks of at most STOP_CHUNK_POINTS (fewer for a wide
    model: its layers stay a few MB) with a look at `stop` between them (a 512² grid with a wide model
    takes seconds). Each chunk is written into one output: a list of small results kept between the big
    freed layers pinned glibc's heap, which grew by ~4 MB a chunk (270 MB for one frame at grid 512)."""
    cfg = run.config
    chunk = min(stopping.STOP_CHUNK_POINTS, chunk_points(cfg.model, cfg.hidden, cfg.depth))
    g = torch.empty(points.shape[0], dtype=torch.float64, device=points.device)  # (M,)
    for start in range(0, points.shape[0], chunk):
        if start and run.stop():
            raise stopping.Stopped()
        g[start:start + chunk] = run.shown(points[start:start + chunk])
    return g


def static_arrays(view: GridView, dim: int) -> dict:
    shape = (view.grid.n, view.grid.n) if dim == 2 else (view.grid.n,)
    static = {"axes": view.grid.axes_lists(), "log_pd": plain(view.log_pd.reshape(shape))}
    if view.log_q is not None:
        static["log_q"] = plain(view.log_q.clamp_min(-1e4).reshape(shape))
    return static


def pair_frame(run, view: GridView | None) -> dict:
    """CPC: the MI estimate (the method's estimator, averaged over MI_BATCHES fresh batches) and f(x, y)."""
    cfg, problem, critic = run.config, run.problem, run.shown
    method = METHODS[cfg.method]
    estimates = [method.estimate(critic, problem.draw_data(cfg.batch_size, run.view_gen)) for _ in range(MI_BATCHES)]
    out = {"mi_estimate": sum(estimates) / len(estimates), "mi_true": cfg.mi, "mi_cap": math.log(cfg.batch_size)}
    if view is None:
        return out
    points = view.grid.points
    scores = critic.pair_score(points[:, :1], points[:, 1:])  # f(x, y) on the grid
    return {
        **out,
        "grid": {"critic": plain(scores.reshape(view.grid.n, view.grid.n))},
        "points": {"data": plain(problem.draw_data(POINTS_SHOWN, run.view_gen).T), "noise": None},
    }


def gradient_frame(run) -> dict:
    """cos(g_nce, g_mle) and ‖g_nce‖/‖g_mle‖ over NR_LADDER and at the current nr.
    1-D: on the training grid, all float64. 2-D: on at most GRAD_GRID_2D cells per axis, with the
    contraction over cells in GRAD_DTYPE_2D (G and the loss cotangents stay float64)."""
    if run.stop():
        raise stopping.Stopped()
    dtype = torch.float64 if run.problem.dim == 1 else GRAD_DTYPE_2D
    view = run.problem.view(gradient_resolution(run))
    nr_values = NR_LADDER + [run.config.nr]
    g_mle, g_nce = population_gradients(run.shown, view.grid.points64, view.grid.log_cell, view.log_pd,
                                        view.log_q, nr_values, dtype, raise_when(run.stop, stopping.Stopped))
    cos, ratio = compare(g_mle, g_nce)
    cos_list, ratio_list = plain(cos), plain(ratio)
    return {"nr": NR_LADDER, "cos": cos_list[:-1], "norm_ratio": ratio_list[:-1],
            "nr_current": run.config.nr, "cos_current": cos_list[-1], "norm_ratio_current": ratio_list[-1]}
