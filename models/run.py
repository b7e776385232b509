"""A headless run: train for config.steps and return the RESULT.json document (docs/design.md §3).

History frames are taken on a step cadence (about HISTORY_POINTS of them), always including
step 0 and the last step. Progress goes to a callback, so the CLI can draw a bar on stderr.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import torch

from .config import RunConfig
from .trainer import Trainer

HISTORY_POINTS = 100
HISTORY_KEYS = ("step", "loss", "log_z_est", "log_z_true", "kl", "grad_cos", "grad_norm_ratio",
                "mi_estimate", "mi_true")


def history_row(frame: dict) -> dict:
    return {key: frame.get(key) for key in HISTORY_KEYS}


def run_config(config: RunConfig, samples: Optional[torch.Tensor] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> dict:
    trainer = Trainer(config, samples)
    every = max(1, config.steps // HISTORY_POINTS)
    history = [history_row(trainer.frame(with_grad=True))]
    train_seconds = 0.0
    while trainer.state == "ok":
        start = time.perf_counter()
        trainer.step(every - trainer.step_count % every)
        train_seconds += time.perf_counter() - start
        history.append(history_row(trainer.frame(with_grad=True)))
        if progress:
            progress(trainer.step_count, config.steps)
    final = trainer.frame(with_grad=True)
    result = {
        "config": config.model_dump(),
        "device": trainer.device.type,
        "steps_per_s": trainer.step_count / train_seconds if train_seconds > 0 else None,
        "state": trainer.state,
        "message": trainer.message,
        "p_d": final["p_d"],
        "history": history,
        "final": {
            "step": final["step"],
            "log_z_est": final["log_z_est"],
            "log_z_true": final["log_z_true"],
            "kl": final["kl"],
            "mi_estimate": final["mi_estimate"],
            "mi_true": final["mi_true"],
            "grid": {"axes": final["grid"]["axes"],
                     "log_p": _row_major(final["grid"].get("log_p")),
                     **({"critic": _row_major(final["grid"]["critic"])} if "critic" in final["grid"] else {})},
            "grad": ({"nr": final["grad"]["nr"], "cos": final["grad"]["cos"],
                      "norm_ratio": final["grad"]["norm_ratio"]} if "grad" in final else None),
        },
    }
    return result


def _row_major(values):
    """2-D grids as one flat row-major list (index = i_y · n + i_x); 1-D as is."""
    if values and isinstance(values[0], list):
        return [v for row in values for v in row]
    return values
