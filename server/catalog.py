"""What the page asks before it starts: the presets menu, the knob schema and what a config will cost,
read from models/ (the registries, the one config model, the one cost model), never written out twice."""
from __future__ import annotations

from importlib import metadata
from typing import Any, Optional

from models.config import ConfigError, knob_schema, parse_config
from models.cost import predict
from models.problem import uses_uploaded_data
from models.data import DATA_PRESETS
from models.energy import MODEL_KINDS
from models.experiments import schema as experiment_schema
from models.noise import NOISE_FAMILIES
from models.coverage import COVERAGE_EPS, COVERAGE_WARN
from models.fixed_sample import MAX_FIXED_NOISE
from models.methods import MAX_NEGATIVES, METHODS
from models.trainer import REBUILD_KNOBS
from server.messages import MAX_STEP_N


def version() -> str:
    try:
        return metadata.version("nce-playground")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


def presets() -> dict:
    return {
        "data": {name: {"dim": preset.dim, "description": preset.description}
                 for name, preset in DATA_PRESETS.items()},
        "noise": {name: {"description": family.description} for name, family in NOISE_FAMILIES.items()},
        "methods": {name: {"description": method.description} for name, method in METHODS.items()},
        "models": {name: {"description": description} for name, description in MODEL_KINDS.items()},
    }


def schema() -> dict:
    knobs = knob_schema()
    return {
        "knobs": knobs,
        "live": [name for name in knobs if name not in REBUILD_KNOBS],
        "rebuild": [name for name in knobs if name in REBUILD_KNOBS],
        "experiments": experiment_schema(),
        # what each method can do (models/methods.py), so the page reads it instead of testing names
        "methods": {name: {"description": method.description, **method.capabilities()}
                    for name, method in METHODS.items()},
        "constants": constants(),
    }


def constants() -> dict:
    """Thresholds and bounds the page needs, defined once in models/ and server/messages.py."""
    return {
        "COVERAGE_WARN": COVERAGE_WARN,  # warn when noise_coverage is below this
        "COVERAGE_EPS": COVERAGE_EPS,
        "MAX_STEP_N": MAX_STEP_N,        # the most steps one `step` message may ask for
        "MAX_NEGATIVES": MAX_NEGATIVES,  # NCE's negatives per step at most (N_r · batch_size is capped here)
        "MAX_FIXED_NOISE": MAX_FIXED_NOISE,
        # a fixed sample's noise count: each method's fixed_noise_rule; round() is Python's, half to even
        # (sample_size 41, nr 0.5 -> 20, where JavaScript's Math.round gives 21)
        "FIXED_NOISE_ROUNDING": "half_even",
    }


def cost(raw: Any, budget_mb: float, uploads: Optional[Any] = None,
         max_step_seconds: Optional[float] = None) -> dict:
    """/api/cost: the predicted cost (models/cost.py) of a partial config (missing knobs take their defaults)
    against the per-session budget: {memory_mb, seconds_per_step, budget_mb, ok, message, driver}.
    `uploads`: the caller's upload store, for the shape of an uploaded data_file (an unknown handle is a
    ConfigError naming data_file, as `start` would say). ConfigError for a config that does not validate."""
    if not isinstance(raw, dict):
        raise ConfigError(["config: must be an object of knob names to values"])
    config = parse_config(raw)
    rows = dim = None
    if uses_uploaded_data(config) and uploads is not None:
        rows, dim = uploads.samples_for(config.data_file).shape
    return predict(config, rows, dim).public(budget_mb, max_step_seconds)
