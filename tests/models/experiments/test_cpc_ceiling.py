"""`cpc_ceiling`: the optimal critic's InfoNCE value never exceeds log B nor the true MI, equals the
MI when that is far below log B, and saturates at log B when it is far above; trained critics stay
under the ceiling."""
import math

import pytest
import torch

from models.experiments import parse_sweep, run_sweep
from models.experiments.cpc_ceiling import optimal_critic_value


def test_optimal_critic_value_is_capped_by_log_batch_and_by_the_mi():
    assert optimal_critic_value(0.5, 256) == pytest.approx(0.5, abs=0.05)  # far under log 256 = 5.5
    for batch in (16, 64):
        values = [optimal_critic_value(mi, batch) for mi in (1.0, 2.0, 4.0, 8.0)]
        assert all(v <= math.log(batch) + 1e-9 for v in values)
        assert all(v <= mi + 0.05 for v, mi in zip(values, (1.0, 2.0, 4.0, 8.0)))
        assert values == sorted(values)  # climbs with the MI
    assert optimal_critic_value(8.0, 16) > 0.95 * math.log(16)  # and flattens at the cap


def test_trained_critics_stay_under_the_ceiling_and_near_the_optimum_at_low_mi():
    result = run_sweep(parse_sweep({"experiment": "cpc_ceiling", "reps": 2, "mi": [0.5, 6.0], "batch_size": [16],
                                    "steps": 300, "hidden": 32}))
    low, high = result["points"]
    cap = math.log(16)
    assert low["cap"] == pytest.approx(cap) and high["measured"] <= cap + 0.05
    assert abs(low["measured"] - low["theory"]) < 0.15
    assert high["measured"] > low["measured"] + 1.0
    assert [c["batch_size"] for c in result["theory_curves"]] == [16]


def test_critics_whose_loss_blows_up_are_left_out_and_said_so():
    result = run_sweep(parse_sweep({"experiment": "cpc_ceiling", "reps": 2, "mi": [2.0], "batch_size": [16],
                                    "steps": 40, "lr": 1.0, "hidden": 16}))
    (point,) = result["points"]
    assert point["failed"] == point["diverged"] == 2 and point["reps"] == 0
    assert math.isnan(point["measured"])  # no critic left to average, rather than a blown-up number
    assert point["note"].startswith("2 of 2 models diverged (loss non-finite or over 1000× its first value")
    assert "lower lr (now 1; try 0.005)" in point["note"]


def test_optimal_critic_value_at_zero_mi_is_exactly_zero():
    """At MI = 0 the optimal critic is 0 everywhere, the loss is log B, and log B − loss is 0 exactly
    (log(B − 1) would give log((B − 1)/B) = −0.13 at B = 8)."""
    assert optimal_critic_value(0.0, 8, budget=4096) == pytest.approx(0.0, abs=1e-12)


def test_a_constant_critic_measures_exactly_zero(monkeypatch):
    """Critics that start at all-zero weights stay there (every gradient is 0: the scores and the hidden
    activations are 0), so every score is equal and log B − loss is 0 exactly."""
    import models.experiments.cpc_ceiling as cpc_ceiling

    def zero_parameters(module, gen):
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.zero_()

    monkeypatch.setattr(cpc_ceiling, "_init_parameters", zero_parameters)
    result = run_sweep(parse_sweep({"experiment": "cpc_ceiling", "reps": 1, "mi": [2.0], "batch_size": [8],
                                    "steps": 10, "hidden": 4, "depth": 1, "eval_batches": 2}))
    (point,) = result["points"]
    assert point["measured"] == pytest.approx(0.0, abs=1e-6)
