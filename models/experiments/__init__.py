"""Experiments: sweeps of many independent models, one point per setting, next to the app's theory.

The registry EXPERIMENTS maps the `experiment` name of SWEEP.json to its entry; adding an experiment
is one module and one entry. Each entry has its own typed, bounded config (strict numbers), a cost
predicted from the config alone (peak memory, seconds, model-steps: common.SweepCost), a theory
computed independently of the fitting, and a `run` that yields points as groups of models finish.

    cfg = parse_sweep({"experiment": "efficiency", "reps": 200})
    predict(cfg).peak_bytes               # before anything is allocated
    result = run_sweep(cfg, SweepContext())

The document run_sweep returns is SWEEP_RESULT.json (docs/design.md §5).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from pydantic import BaseModel, ValidationError

from ..config import ConfigError, describe
from ..trainer import resolve_device
from . import cpc_ceiling, efficiency, nr_budget, ranking
from .common import SweepCancelled, SweepContext, SweepCost

__all__ = ["EXPERIMENTS", "Experiment", "SweepCancelled", "SweepContext", "SweepCost", "parse_sweep", "predict",
           "run_sweep"]


@dataclass(frozen=True)
class Experiment:
    description: str
    config: type[BaseModel]
    axis: str            # the point key on the plot's x axis
    axis_label: str
    measured_label: str  # what "measured" and "theory" are
    log_x: bool
    progress_unit: str   # what sweep progress counts: "models" fitted, or "model-steps" trained
    total_models: Callable[[Any], int]
    cost: Callable[[Any, str], SweepCost]  # (config, device type): predicted before anything is allocated
    theory_curves: Callable[[Any, SweepContext], list[dict]]
    run: Callable[[Any, SweepContext], Iterator[dict]]


EXPERIMENTS: dict[str, Experiment] = {
    "efficiency": Experiment(
        "NCE's accuracy against N_r and the noise: T_d·MSE(λ̂)/Cramér–Rao for a Gaussian fitted exactly to "
        "N(0,1) data, against Gutmann & Hyvärinen's Theorem 3 (1 + 1/N_r when q = p_d).",
        efficiency.EfficiencyConfig, "nr", "N_r (noise per data point)", "T_d·MSE(λ̂) / Cramér–Rao", True, "models",
        efficiency.total_models, lambda cfg, _device: efficiency.cost(cfg), efficiency.theory_curves, efficiency.run),
    "ranking": Experiment(
        "Ranking NCE (InfoNCE) against k: the same Gaussian, but only λ is estimated (c cancels); "
        "theory by the sandwich formula (1 + 1/k when q = p_d).",
        ranking.RankingConfig, "k", "k (negatives per data point)", "T_d·MSE(λ̂) / Cramér–Rao", True, "models",
        ranking.total_models, lambda cfg, _device: ranking.cost(cfg), ranking.theory_curves, ranking.run),
    "cpc_ceiling": Experiment(
        "CPC's InfoNCE bound on mutual information: it climbs with the true MI and flattens at log(batch); "
        "theory: the value of the optimal critic (Poole et al. 2019).",
        cpc_ceiling.CpcCeilingConfig, "mi", "true mutual information (nats)", "InfoNCE estimate (nats)", False, "model-steps",
        cpc_ceiling.total_models, lambda cfg, _device: cpc_ceiling.cost(cfg), cpc_ceiling.theory_curves,
        cpc_ceiling.run),
    "nr_budget": Experiment(
        "The MLP on a preset with a fixed sample: final KL(p_d ‖ p_θ) and |log Ẑ − log Z| against N_r, and the "
        "seconds each step costs — the trade-off a user faces.",
        nr_budget.NrBudgetConfig, "nr", "N_r (noise per data point)", "KL(p_d ‖ p_θ) at the end", True, "model-steps",
        nr_budget.total_models, nr_budget.cost, nr_budget.theory_curves, nr_budget.run),
}


def parse_sweep(raw: Any) -> BaseModel:
    """Validate SWEEP.json into its experiment's config; raises ConfigError naming every bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(["sweep: must be an object with an 'experiment' and its knobs"])
    name = raw.get("experiment")
    if name not in EXPERIMENTS:
        got = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."  # never echo a long input back
        raise ConfigError([f"experiment: must be one of {', '.join(EXPERIMENTS)} (got {got})"])
    model = EXPERIMENTS[name].config
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe(error, model)) from None


def predict(cfg: BaseModel, device_type: Optional[str] = None) -> SweepCost:
    """The sweep's predicted cost (common.SweepCost) on `device_type` (default: the one cfg.device resolves
    to, else the CPU), from its config alone: nothing is allocated."""
    if device_type is None:
        try:
            device_type = resolve_device(cfg.device).type
        except ValueError:  # the device is absent: run_sweep will say so
            device_type = "cpu"
    return EXPERIMENTS[cfg.experiment].cost(cfg, device_type)


def schema() -> dict[str, dict]:
    """Every experiment with its description, axis and knobs (defaults, bounds), for /api/schema and the page."""
    out = {}
    for name, entry in EXPERIMENTS.items():
        spec = entry.config.model_json_schema()
        out[name] = {"description": entry.description, "axis": entry.axis, "axis_label": entry.axis_label,
                     "measured_label": entry.measured_label, "log_x": entry.log_x,
                     "progress_unit": entry.progress_unit,
                     "defaults": entry.config().model_dump(), "knobs": spec.get("properties", {}),
                     "definitions": spec.get("$defs", {})}
    return out


def run_sweep(cfg: BaseModel, ctx: Optional[SweepContext] = None,
              on_point: Optional[Callable[[dict], None]] = None,
              on_theory: Optional[Callable[[list[dict]], None]] = None) -> dict:
    """Run a parsed sweep to the end and return SWEEP_RESULT.json. Points go to `on_point` as they
    are made and the theory curves to `on_theory` before the first; SweepCancelled leaves early."""
    entry = EXPERIMENTS[cfg.experiment]
    ctx = ctx or SweepContext()
    ctx.device = resolve_device(cfg.device)
    started = time.perf_counter()
    curves = entry.theory_curves(cfg, ctx)
    if on_theory is not None:
        on_theory(curves)
    points = []
    for point in entry.run(cfg, ctx):
        points.append(point)
        if on_point is not None:
            on_point(point)
    return {"experiment": cfg.experiment, "config": cfg.model_dump(), "device": ctx.device.type,
            "seconds": time.perf_counter() - started, "models": entry.total_models(cfg),
            "axis": entry.axis, "points": points, "theory_curves": curves}
