"""`nr_budget`: batched MLPs on a fixed sample. With a tiny noise sample NCE cannot find the density;
with enough noise it can (the trade-off the experiment shows); its knobs are checked as a run's are."""
import pytest

from models.config import ConfigError
from models.experiments import parse_sweep, run_sweep


def test_kl_falls_when_the_noise_sample_grows():
    """200 steps at lr 0.02 end where 400 at lr 0.01 did (KL 0.082 vs 0.079 with 26 noise points, 0.020 vs
    0.021 with 2560; gap 0.006 vs 0.012): both fits have converged, so the ratio is N_r's, not the steps'."""
    result = run_sweep(parse_sweep({"experiment": "nr_budget", "reps": 2, "nr": [0.1, 10.0], "steps": 200,
                                    "lr": 0.02, "sample_size": 256, "grid": 64}))
    few, many = result["points"]
    assert few["fixed_noise"] == 26 and many["fixed_noise"] == 2560
    assert few["measured"] > 2 * many["measured"], (few, many)
    assert many["z_gap"] < 0.2 and many["seconds_per_step"] > 0 and many["negatives_per_step"] == 2560
    assert result["models"] == 4 and result["theory_curves"] == []


@pytest.mark.parametrize("raw, expected", [
    ({"hidden": 2}, "hidden: Input should be greater than or equal to 4"),
    ({"method": "mle"}, "method: nr_budget trains NCE"),
    ({"data": "custom"}, "data: a sweep needs a preset"),
    ({"nr": [2000]}, "nr.0: Input should be less than or equal to 1000"),
    ({"sample_size": 100_000, "nr": [100]}, "sample_size: with nr = 100 a fixed sample needs 10,000,000"),
    ({"reps": 64, "steps": 100_000, "nr": [1000]}, "steps: this sweep would take"),
])
def test_bad_knobs_are_refused_by_name(raw, expected):
    with pytest.raises(ConfigError) as error:
        parse_sweep({"experiment": "nr_budget", **raw})
    assert expected in str(error.value)


def test_a_repeated_setting_is_refused():
    with pytest.raises(ConfigError) as error:
        parse_sweep({"experiment": "nr_budget", "nr": [10, 1, 10]})
    assert "nr: 10 appears twice; list each value once" in str(error.value)


def test_diverged_models_are_counted_left_out_and_said_so():
    """Was: lr 10 reported KL 21, CI [−19, 61] with failed 0 (only a NaN loss counted). Now a model diverges
    by a live run's rules (here the loss grows past 1000× its first value) and is left out of the point."""
    result = run_sweep(parse_sweep({"experiment": "nr_budget", "reps": 6, "nr": [1.0], "steps": 60, "lr": 1.3,
                                    "sample_size": 128, "batch_size": 64, "grid": 64}))
    (point,) = result["points"]
    assert 0 < point["failed"] < 6 and point["diverged"] == point["failed"]
    assert point["reps"] + point["failed"] == 6
    assert point["ci"][0] <= point["measured"] <= point["ci"][1] < 5  # the rest only: finite and sensible
    assert point["note"].startswith(f"{point['failed']} of 6 models diverged")
    assert "left out of measured and ci" in point["note"] and "lower lr (now 1.3; try 0.01)" in point["note"]
