"""A sweep's cost predicted from its config (models.experiments.predict): its peak memory within 2× of
the measured one (a subprocess per experiment, a regime per config), refusals that name the knobs and
the bound, the issue's heavy sweeps let in by chunking, and chunking that changes no result."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from models.config import ConfigError
from models.experiments import cpc_ceiling, nr_budget, parse_sweep, predict, run_sweep
from models.experiments.common import MB

PROBE = Path(__file__).with_name("peak_probe.py")
LIMIT_MB = 2048  # the server's default NCE_SWEEP_MEMORY_MB

# two configs per experiment: many small units chunked together, and one big unit alone (one repetition's
# fit, one critic's scores), the 2-D grid of the evaluation or 4M-point fixed samples; each runs in ~1-3 s
PROBED = {
    "efficiency": [{"experiment": "efficiency", "reps": 100, "sample_size": 1000, "nr": [10.0],
                    "noises": [{"noise": "laplace"}]},
                   {"experiment": "efficiency", "reps": 2, "sample_size": 20_000, "nr": [100.0],
                    "noises": [{"noise": "data"}]}],
    "ranking": [{"experiment": "ranking", "reps": 100, "sample_size": 500, "k": [16], "noises": [{"noise": "data"}]},
                {"experiment": "ranking", "reps": 2, "sample_size": 2000, "k": [1000], "noises": [{"noise": "data"}]}],
    "cpc_ceiling": [{"experiment": "cpc_ceiling", "reps": 16, "mi": [1.0, 4.0], "batch_size": [256], "steps": 10,
                     "hidden": 128, "eval_batches": 1},
                    {"experiment": "cpc_ceiling", "reps": 1, "mi": [1.0], "batch_size": [768], "steps": 10,
                     "hidden": 256, "depth": 4, "eval_batches": 1}],
    "nr_budget": [{"experiment": "nr_budget", "reps": 4, "nr": [10.0], "steps": 5, "data": "two_moons", "grid": 512,
                   "hidden": 128, "depth": 3},
                  {"experiment": "nr_budget", "reps": 2, "nr": [1000.0], "steps": 2, "data": "two_moons",
                   "sample_size": 4000, "batch_size": 64, "grid": 32}],
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status and clear_refs")
@pytest.mark.parametrize("experiment", list(PROBED))
def test_the_predicted_peak_memory_is_within_2x_of_the_measured(experiment):
    proc = subprocess.run([sys.executable, str(PROBE), json.dumps(PROBED[experiment])], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(PROBED[experiment])
    for row in rows:
        ratio = row["predicted_mb"] / row["measured_mb"]
        assert 0.5 <= ratio <= 2.0, row
        assert row["measured_mb"] > 10, row  # big enough to be the sweep's, not the allocator's noise


@pytest.mark.parametrize("raw, driver, knobs", [
    ({"experiment": "efficiency", "reps": 2, "sample_size": 100_000, "nr": [1000.0]},
     "sample_size × (1 + nr) = 1.0e8 points in one repetition's fit", "lower sample_size or nr"),
    ({"experiment": "ranking", "reps": 2, "sample_size": 100_000, "k": [1024], "noises": [{"noise": "data"}]},
     "sample_size × (1 + k) = 1.0e8 points in one repetition's fit", "lower sample_size or k"),
    ({"experiment": "cpc_ceiling", "reps": 64, "mi": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "batch_size": [64],
      "steps": 10, "hidden": 256, "depth": 4},
     "reps × len(mi) = 640 critics of 404,000 parameters each", "lower reps, mi, hidden or depth"),
    ({"experiment": "nr_budget", "reps": 8, "nr": [1000.0], "batch_size": 4096, "sample_size": 4000, "steps": 10},
     "reps × (sample_size + round(nr × sample_size)) points of the fixed samples", "lower reps, sample_size, nr or "
     "batch_size"),
])
def test_a_sweep_over_the_budget_is_refused_naming_its_knobs_and_the_bound(raw, driver, knobs):
    cost = predict(parse_sweep(raw), "cpu")
    message = cost.over(200, "this server allows 200 MB per sweep (NCE_SWEEP_MEMORY_MB)")
    assert message is not None and message.startswith(driver), message
    assert "this server allows 200 MB per sweep (NCE_SWEEP_MEMORY_MB): " + knobs in message
    assert cost.peak_bytes > 200 * MB and " need ~" in message
    assert cost.over(cost.peak_bytes / MB, "the limit allows") is None  # at its prediction it is let in


@pytest.mark.parametrize("raw", [
    # the issue's sweeps that took the server down: x_data alone was 14.4 GB; one evaluation over R × 512²
    # cells; R × B × B scores (64 reps × 10 MI at B = 1024), also with eval_batches 1024
    {"experiment": "efficiency", "reps": 100_000, "sample_size": 18_000, "nr": [0.1], "noises": [{"noise": "data"}]},
    {"experiment": "nr_budget", "data": "two_moons", "grid": 512, "hidden": 256, "depth": 4, "reps": 8},
    {"experiment": "cpc_ceiling", "reps": 64, "mi": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "batch_size": [1024],
     "steps": 10, "eval_batches": 1024},
])
def test_chunking_lets_the_issues_heavy_sweeps_in_under_the_default_budget(raw):
    cost = predict(parse_sweep(raw), "cpu")
    assert cost.peak_bytes < 300 * MB, cost
    assert cost.over(LIMIT_MB, "this server allows") is None


def test_model_steps_count_what_progress_counts():
    assert predict(parse_sweep({"experiment": "nr_budget", "reps": 3, "nr": [1, 10], "steps": 50})).model_steps == 300
    assert predict(parse_sweep({"experiment": "cpc_ceiling", "reps": 2, "mi": [1, 2], "batch_size": [16, 32],
                                "steps": 20})).model_steps == 2 * 2 * 2 * 20
    cost = predict(parse_sweep({"experiment": "efficiency", "reps": 10, "nr": [1, 2, 3]}))  # a fit counts one
    assert cost.model_steps == 10 * 3 * 6
    assert cost.steps_over(100, "100 left") == ("reps × len(nr) × len(noises) = 10 × 3 × 6 exact fits (one step "
                                                "each) = 180 model-steps; 100 left: lower reps, nr or noises")


def test_chunked_critics_train_as_the_unchunked_ones(monkeypatch):
    raw = {"experiment": "cpc_ceiling", "reps": 3, "mi": [0.5, 3.0], "batch_size": [16], "steps": 30, "hidden": 8,
           "eval_batches": 2}
    whole = run_sweep(parse_sweep(raw))["points"]
    monkeypatch.setattr(cpc_ceiling, "CHUNK_ELEMENTS", 1)  # one critic per chunk
    chunked = run_sweep(parse_sweep(raw))["points"]
    for a, b in zip(whole, chunked):
        assert a["measured"] == pytest.approx(b["measured"], abs=1e-5) and a["reps"] == b["reps"] == 3


def test_models_trained_in_groups_end_as_trained_together(monkeypatch):
    raw = {"experiment": "nr_budget", "reps": 3, "nr": [2.0], "steps": 30, "sample_size": 64, "batch_size": 32,
           "grid": 32}
    whole = run_sweep(parse_sweep(raw))["points"][0]
    monkeypatch.setattr(nr_budget, "GROUP_BYTES", 1)  # one model per group
    grouped = run_sweep(parse_sweep(raw))["points"][0]
    assert whole["measured"] == pytest.approx(grouped["measured"], rel=1e-4)
    assert whole["z_gap"] == pytest.approx(grouped["z_gap"], rel=1e-3, abs=1e-5)
    assert math.isfinite(whole["measured"]) and grouped["reps"] == 3


@pytest.mark.parametrize("raw, field", [
    ({"experiment": "efficiency", "reps": "10"}, "reps: must be an integer"),
    ({"experiment": "efficiency", "reps": True}, "reps: must be an integer"),
    ({"experiment": "efficiency", "nr": ["10"]}, "nr.0: must be a number"),
    ({"experiment": "efficiency", "noises": [{"noise": "gaussian", "noise_scale": True}]}, "must be a number"),
    ({"experiment": "ranking", "k": [True]}, "k.0: must be an integer"),
    ({"experiment": "ranking", "sample_size": 100.0}, "sample_size: must be an integer"),
    ({"experiment": "cpc_ceiling", "lr": "0.01"}, "lr: must be a number"),
    ({"experiment": "cpc_ceiling", "mi": [False]}, "mi.0: must be a number"),
    ({"experiment": "nr_budget", "steps": "100"}, "steps: must be an integer"),
    ({"experiment": "nr_budget", "nr": [True]}, "nr.0: must be a number"),
])
def test_numeric_knobs_refuse_strings_and_booleans(raw, field):
    with pytest.raises(ConfigError) as error:
        parse_sweep(raw)
    assert field in str(error.value)


def test_json_integers_are_numbers_for_float_knobs():
    cfg = parse_sweep({"experiment": "cpc_ceiling", "mi": [1, 2], "lr": 1})
    assert cfg.mi == [1.0, 2.0] and cfg.lr == 1.0
    assert parse_sweep({"experiment": "efficiency", "nr": [2],
                        "noises": [{"noise": "gaussian", "noise_loc": 1, "noise_scale": 2}]}).noises[0].noise_loc == 1.0
