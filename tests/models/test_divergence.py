"""Divergence (models/divergence.py): lr = 10 is caught on every method with the learning rate named
and a value to try; data of a large scale is blamed on its scale (never "lower lr"); data whose moments
overflow is refused by name; default runs on every preset and method, and the "noise too far" lesson,
are never flagged."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.config import RunConfig
from models.data import DATA_PRESETS
from models.divergence import (CHECK_EVERY, DATA_SCALE_LIMIT, LOG_FLOAT_MAX, LOSS_GROWTH, grid_blowup,
                               likely_cause, loss_blowup)
from models.trainer import Trainer

CAUGHT_WITHIN = 20  # steps: lr = 10 blows every method's loss past 1e5 × its first value at step 1 or 2


def _custom(scale: float, rows: int = 200, dim: int = 1) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * scale


def test_the_thresholds_are_what_the_docstring_says():
    assert LOG_FLOAT_MAX == pytest.approx(float(np.log(np.finfo(np.float64).max)), abs=1e-9)  # ≈ 709.78
    assert math.isfinite(math.exp(LOG_FLOAT_MAX - 1e-9))
    with pytest.raises(OverflowError):
        math.exp(LOG_FLOAT_MAX + 1)  # past it, Z = e^{log Z} is no float64
    assert loss_blowup(6.0, 6.0) is None and loss_blowup(6.0, None) is None
    assert loss_blowup(6.0 * LOSS_GROWTH * 1.01, 6.0) is not None
    assert loss_blowup(0.9 * LOSS_GROWTH, 1e-3) is None  # the floor 1: a tiny first loss is no yardstick
    assert loss_blowup(1.1 * LOSS_GROWTH, 1e-3) is not None
    assert "nan" in loss_blowup(float("nan"), None) and "inf" in loss_blowup(float("inf"), 3.0)


@pytest.mark.parametrize("gap, kl, flagged", [
    (-860_681.0, 7e5, True),       # the finite blow-up that used to say "running"
    (-18.98, 14.94, False),        # the "noise too far" lesson at its worst (measured over its 3000 steps)
    (None, 1e18, True),            # InfoNCE/MLE: no Ẑ, KL only
    (None, float("nan"), True),    # the model overflowed on the grid
    (LOG_FLOAT_MAX - 1, LOG_FLOAT_MAX - 1, False),
    (LOG_FLOAT_MAX + 1, 0.0, True),
])
def test_grid_rule(gap, kl, flagged):
    assert (grid_blowup(gap, kl) is not None) == flagged


def test_the_cause_names_data_scale_only_when_the_data_is_large():
    assert "lower lr (now 10; try 0.01)" in likely_cause(3.0, 10.0, 0.01)
    assert "try 0.0001" in likely_cause(3.0, 1e-3, 0.01)  # below the default: a tenth of it
    big = likely_cause(2e4, 10.0, 0.01)
    assert "scale" in big and "lower lr" not in big and "2e+04" in big
    assert "lower lr" in likely_cause(DATA_SCALE_LIMIT, 10.0, 0.01)


@pytest.mark.parametrize("method, data", [("nce", "bimodal"), ("mle", "bimodal"), ("infonce", "bimodal"),
                                          ("cpc", "bimodal"), ("nce", "eight_gaussians"), ("mle", "spirals")])
def test_lr_10_is_caught_within_a_few_steps_naming_the_learning_rate(method, data):
    trainer = Trainer(RunConfig(method=method, data=data, lr=10.0))
    taken = trainer.step(CAUGHT_WITHIN)
    assert trainer.state == "diverged" and taken < CAUGHT_WITHIN, (taken, trainer.message)
    message = trainer.message
    assert f"at step {trainer.step_count}" in message
    assert "learning rate" in message and "lower lr (now 10; try 0.01)" in message and "reset" in message
    assert "scale" not in message
    assert trainer.frame(with_grad=False)["state"] == "diverged"
    trainer.reset()
    assert trainer.state == "ok" and trainer.step_count == 0


def test_data_at_a_large_scale_is_blamed_on_its_scale_not_on_lr():
    # N(0, 1e4²) at lr = 10: the loss blows up (rule 2), and at scale 1e4 lowering lr is not the fix
    trainer = Trainer(RunConfig(method="nce", data="custom", data_file="upload:a", lr=10.0), _custom(1e4))
    trainer.step(CAUGHT_WITHIN)
    assert trainer.state == "diverged", trainer.message
    assert trainer.data_scale > DATA_SCALE_LIMIT
    assert "data's scale" in trainer.message and "lower lr" not in trainer.message


def test_data_near_1e150_diverges_at_step_0_with_the_scale_named():
    trainer = Trainer(RunConfig(method="mle", data="custom", data_file="upload:a", model="gaussian"), _custom(1e150))
    assert trainer.step(5) == 0 and trainer.state == "diverged"
    assert "at step 0" in trainer.message and "data's scale" in trainer.message
    assert "lower lr" not in trainer.message and "e+150" in trainer.message


def test_a_finite_blowup_whose_loss_started_huge_is_caught_by_the_grid_rule():
    # data at 1e20: the first loss is already ~3e18 (rule 2 has no sane yardstick); KL ≈ 1e18 on the grid
    trainer = Trainer(RunConfig(method="nce", data="custom", data_file="upload:a"), _custom(1e20))
    trainer.step(3 * CHECK_EVERY)
    assert trainer.state == "diverged" and trainer.step_count == CHECK_EVERY, trainer.message
    assert "reached" in trainer.message and "at step 50" in trainer.message  # |log Ẑ − log Z| or KL, not the loss
    assert "data's scale" in trainer.message and "lower lr" not in trainer.message


@pytest.mark.parametrize("scale", [1e308, float("1.7e308")])
def test_data_whose_moments_overflow_is_refused_naming_the_field(scale):
    samples = _custom(1.0)
    samples[::2] = scale
    samples[1::2] = -scale
    with pytest.raises(ValueError) as caught:  # not torch.linalg.LinAlgError from the noise's Cholesky
        Trainer(RunConfig(method="nce", data="custom", data_file="upload:a"), samples)
    assert type(caught.value) is ValueError
    assert str(caught.value).startswith("data_file:") and "scale" in str(caught.value)


def test_the_noise_too_far_lesson_is_not_flagged():
    # the lesson's knobs (frontend/js/lessons-data.js, "far-noise"): KL climbs to ~15 and log Z to ~19,
    # which is NCE failing to learn, not arithmetic blowing up (see models/divergence.py)
    config = RunConfig(method="nce", data="bimodal", noise="gaussian", noise_fit=False, noise_loc=7.0,
                       noise_scale=1.0, nr=10.0, steps=600)
    trainer = Trainer(config)
    worst_kl = 0.0
    while trainer.state == "ok":
        trainer.step(100)
        worst_kl = max(worst_kl, trainer.frame(with_grad=False, arrays=False)["kl"])
    assert trainer.state == "done", trainer.message
    assert worst_kl > 1.0  # it really is the bad-noise run (the defaults reach KL ~0.003)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", ["nce", "mle", "infonce"])
def test_no_false_positive_at_the_defaults_on_any_preset(method):
    for data in DATA_PRESETS:
        # 100 steps: past rule 2's early growth, and two checks of rule 3 (every 50 steps)
        trainer = Trainer(RunConfig(method=method, data=data, steps=100))
        trainer.step(100)
        assert trainer.state == "done", (data, trainer.message)


def test_no_false_positive_for_cpc_at_the_defaults():
    trainer = Trainer(RunConfig(method="cpc", steps=300))
    trainer.step(300)
    assert trainer.state == "done", trainer.message
