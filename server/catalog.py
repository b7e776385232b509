"""What the page asks before it starts: the presets menu and the knob schema, read from models/
(the registries and the one config model), never written out twice."""
from __future__ import annotations

from importlib import metadata

from models.config import knob_schema
from models.data import DATA_PRESETS
from models.energy import MODEL_KINDS
from models.experiments import schema as experiment_schema
from models.noise import NOISE_FAMILIES
from models.objectives import METHODS
from models.trainer import REBUILD_KNOBS


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
        "methods": {name: {"description": description} for name, description in METHODS.items()},
        "models": {name: {"description": description} for name, description in MODEL_KINDS.items()},
    }


def schema() -> dict:
    knobs = knob_schema()
    return {
        "knobs": knobs,
        "live": [name for name in knobs if name not in REBUILD_KNOBS],
        "rebuild": [name for name in knobs if name in REBUILD_KNOBS],
        "experiments": experiment_schema(),
    }
