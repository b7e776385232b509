"""What goes on the wire (docs/protocol.md): server messages as JSON text, and frames shaped from
Trainer.frame(): floats rounded to 4 significant digits, non-finite values as null, static grid
parts only after a change, the arrays only when the byte budget allows.
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional

import torch

SIGNIFICANT_DIGITS = 4
STATIC_GRID_KEYS = frozenset({"axes", "log_pd", "log_q"})  # change only with the config
ARRAY_KEYS = ("grid", "points")  # the bulky parts of a frame
_FORMAT = f".{SIGNIFICANT_DIGITS}g"
TENSOR_ROUNDING_MIN = 64  # longer lists of floats are rounded by torch: ~3x faster than per-float formatting


def dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def rounded(value: Any) -> Any:
    """A JSON-like value with every float rounded to 4 significant digits (non-finite -> None)."""
    kind = type(value)
    if kind is float:
        return float(format(value, _FORMAT)) if math.isfinite(value) else None
    if kind is list:
        return _rounded_list(value)
    if kind is dict:
        return {key: rounded(item) for key, item in value.items()}
    return value


def _rounded_list(values: list) -> list:
    if len(values) >= TENSOR_ROUNDING_MIN and _first_leaf(values) is float:
        try:
            array = torch.tensor(values, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):  # a None inside (a non-finite value), or ragged
            array = None
        if array is not None and bool(torch.isfinite(array).all()):
            return round_significant(array).tolist()
    out = []  # per float: the hot loop of small lists, and of lists with nulls
    append = out.append
    for value in values:
        if type(value) is float:
            append(float(format(value, _FORMAT)) if value - value == 0.0 else None)  # v - v is nan for inf/nan
        else:
            append(rounded(value))
    return out


def _first_leaf(values: list) -> type:
    while type(values) is list and values:
        values = values[0]
    return type(values)


def round_significant(array: torch.Tensor) -> torch.Tensor:
    """Finite float64 values to SIGNIFICANT_DIGITS digits. Multiplying or dividing by an exact power
    of ten (10^0..10^22) is correctly rounded, so each result is the double nearest its short decimal
    and prints as one; values under 1e-19 or over 1e25 (10^23 and up are inexact) go one by one."""
    digits = SIGNIFICANT_DIGITS - 1 - torch.floor(torch.log10(array.abs()))
    digits = torch.nan_to_num(digits, nan=0.0, posinf=0.0, neginf=0.0)  # zeros stay zeros
    scale = torch.pow(10.0, digits.abs())
    out = torch.where(digits > 0, torch.round(array * scale) / scale, torch.round(array / scale) * scale)
    inexact = digits.abs() > 22
    if bool(inexact.any()):
        out[inexact] = torch.tensor([float(format(v, _FORMAT)) for v in array[inexact].tolist()],
                                    dtype=torch.float64)
    return out


def config_message(config_rev: int, config: dict, rebuilt: bool, changed: list[str]) -> dict:
    return {"type": "config", "config_rev": config_rev, "config": config, "rebuilt": rebuilt, "changed": changed}


def status_message(state: str, message: Optional[str] = None, step: Optional[int] = None) -> dict:
    """`step`: the step the run stands at, so a page shows the exact count with the state (the frame of
    that state follows the status, never precedes it)."""
    return {"type": "status", "state": state, "message": message, "step": step}


MAX_ERROR_CHARS = 2_000  # an error reply is at most ~2 KB, whatever provoked it (docs/protocol.md)


def error_message(message: str) -> dict:
    """An `error` reply, its text cut to MAX_ERROR_CHARS: no client message can make the server answer
    with more than a small constant (the messages that build it quote and count; this is the backstop)."""
    return {"type": "error", "message": bounded_text(message)}


def bounded_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    kept = limit - 40  # room for the note
    return f"{text[:kept]}... ({len(text) - kept:,} more characters)"


def shape_frame(raw: dict, *, config_rev: int, state: str, total_steps: int, with_static: bool,
                with_arrays: bool, grad: Optional[dict], grad_scalars: tuple) -> dict:
    """A wire frame from Trainer.frame(..., with_grad=False). `grad`: a fresh gradient comparison to
    send (None: the key is left out, "unchanged"); `grad_scalars`: (cos, norm_ratio) at the current nr."""
    frame = {key: value for key, value in raw.items() if key not in ARRAY_KEYS and key != "grad"}
    frame.update(type="frame", config_rev=config_rev, state=state, total_steps=total_steps,
                 grad_cos=grad_scalars[0], grad_norm_ratio=grad_scalars[1])
    grid = {key: values for key, values in (raw.get("grid") or {}).items()
            if (key in STATIC_GRID_KEYS and with_static) or (key not in STATIC_GRID_KEYS and with_arrays)}
    if grid:
        frame["grid"] = grid
    if with_arrays and raw.get("points") is not None:
        frame["points"] = raw["points"]
    if grad is not None:
        frame["grad"] = grad
    return rounded(frame)


def merge_unsent(older: dict, newer: dict) -> dict:
    """`newer` replaces an unsent `older` frame (a slow client gets only the newest); the parts that
    only `older` carried ride along, since the page treats an absent key as "unchanged"."""
    if "grad" in older and "grad" not in newer:
        newer["grad"] = older["grad"]
    newer_grid = newer.get("grid", {})
    if STATIC_GRID_KEYS & newer_grid.keys():
        return newer  # a new layout: the older arrays belong to another grid
    if "grid" in older:
        newer["grid"] = {**older["grid"], **newer_grid}
    if "points" in older and "points" not in newer:
        newer["points"] = older["points"]
    return newer
