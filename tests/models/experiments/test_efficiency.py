"""`efficiency`: the app's Theorem-3 theory against its closed form (q = p_d: 1 + 1/N_r), and the
measured points against the theory within a tolerance set by the number of repetitions."""
import math

import pytest

from models.experiments import SweepContext, parse_sweep, run_sweep
from models.experiments.common import NoiseSpec, Z_95
from models.experiments.efficiency import _noise_count, theory, theory_c
from models.fixed_sample import fixed_noise_count

SIGMAS = 4.0  # measured vs theory: within 4 standard errors (the CI half-width / 1.96) plus 10% for T_d < ∞


@pytest.mark.parametrize("nr", [0.1, 0.5, 1.0, 2.0, 10.0, 1000.0])
def test_theory_is_one_plus_one_over_nr_when_q_is_the_data(nr):
    (value,) = theory(NoiseSpec(noise="data"), [nr])
    assert value == pytest.approx(1 + 1 / nr, rel=1e-9)


@pytest.mark.parametrize("nr", [0.1, 0.5, 1.0, 10.0, 1000.0])
def test_theory_of_c_is_one_plus_one_over_nr_when_q_is_the_data(nr):
    """Closed form for q = p_d: P = N_r/(1 + N_r) =: ν, I = ν E[g gᵀ] with E[g gᵀ] = [[3/4, −1/2], [−1/2, 1]]
    (g = (−x²/2, 1), x ~ N(0, 1)), m = ν E[g], so I⁻¹ m = (0, 1) and
    Σ = (1/ν) E[g gᵀ]⁻¹ − (1 + 1/N_r) e_c e_cᵀ = (1 + 1/N_r) [[2, 1], [1, 1/2]]:
    Σ_cc / CR_c = (1 + 1/N_r) (1/2) / (1/2). Without the (1 + 1/N_r) m-term it would be 3 (1 + 1/N_r)."""
    (value,) = theory_c(NoiseSpec(noise="data"), [nr])
    assert value == pytest.approx(1 + 1 / nr, rel=1e-9)


def test_theory_of_c_sees_the_noise_where_lambda_barely_does():
    """A wide q is near-optimal for λ at N_r = 1 but costs c (= −log Ẑ) much more than q = p_d does."""
    lam_wide, c_wide = theory(NoiseSpec(noise="gaussian", noise_scale=2.0), [1.0])[0], \
        theory_c(NoiseSpec(noise="gaussian", noise_scale=2.0), [1.0])[0]
    assert lam_wide < 2.0 < c_wide  # q = p_d: both 2


@pytest.mark.parametrize("sample_size, nr", [(53, 0.5), (51, 0.5), (75, 0.3), (55, 0.1)])
def test_noise_count_is_the_fixed_sample_count(sample_size, nr):
    """One home for N = round(N_r · T_d): Python's round (26.5 -> 26, 25.5 -> 26), at least 1."""
    expected = max(1, round(nr * sample_size))
    assert _noise_count(nr, sample_size) == fixed_noise_count("nce", sample_size, nr, 1) == expected
    result = run_sweep(parse_sweep({"experiment": "efficiency", "reps": 2, "sample_size": sample_size, "nr": [nr],
                                    "noises": [{"noise": "data"}]}))
    assert result["points"][0]["noise_points"] == expected


def test_theory_orders_the_noises():
    """A narrow or a shifted q costs efficiency; a wider Gaussian beats q = p_d at small N_r (q = p_d is
    not the optimal noise); every q that covers p_d tends to the MLE (1) as N_r → ∞."""
    nr = [1.0, 10.0, 1e6]
    data = theory(NoiseSpec(noise="data"), nr)
    wide = theory(NoiseSpec(noise="gaussian", noise_scale=2.0), nr)
    narrow = theory(NoiseSpec(noise="gaussian", noise_scale=0.5), nr)
    shifted = theory(NoiseSpec(noise="gaussian", noise_loc=2.0), nr)
    assert all(n > s > d > w for n, s, d, w in zip(narrow[:2], shifted[:2], data[:2], wide[:2]))
    assert wide[-1] == pytest.approx(1.0, abs=1e-4) and shifted[-1] == pytest.approx(1.0, abs=1e-2)
    # a uniform that misses the tails never reaches the MLE: the data it misses carries information
    (uniform_limit,) = theory(NoiseSpec(noise="uniform", noise_scale=1.0), [1e6])
    assert uniform_limit > 1.05


def test_measured_points_match_the_theory():
    cfg = parse_sweep({"experiment": "efficiency", "reps": 400, "sample_size": 400, "nr": [1.0, 10.0],
                       "noises": [{"noise": "data"}, {"noise": "gaussian", "noise_scale": 2.0},
                                  {"noise": "uniform", "noise_scale": 1.5}]})
    seen = []
    result = run_sweep(cfg, SweepContext(progress=lambda done, total: seen.append((done, total))))
    assert seen[-1] == (2400, 2400) and result["models"] == 2400
    for point in result["points"]:
        assert point["failed"] == 0 and point["reps"] == 400
        standard_error = (point["ci"][1] - point["ci"][0]) / (2 * Z_95)
        allowed = SIGMAS * standard_error + 0.1 * point["theory"]
        assert abs(point["measured"] - point["theory"]) < allowed, point
        standard_error_c = (point["ci_c"][1] - point["ci_c"][0]) / (2 * Z_95)
        assert abs(point["measured_c"] - point["theory_c"]) < SIGMAS * standard_error_c + 0.1 * point["theory_c"], point
    curves = result["theory_curves"]
    assert [c["noise"] for c in curves] == [{"noise": "data"}, {"noise": "gaussian", "noise_loc": 0.0, "noise_scale": 2.0},
                                            {"noise": "uniform", "noise_loc": 0.0, "noise_scale": 1.5}]
    data_curve = curves[0]
    assert all(y == pytest.approx(1 + 1 / x, rel=1e-9) for x, y in zip(data_curve["x"], data_curve["y"]))


def test_same_seed_same_points_other_seed_other_points():
    raw = {"experiment": "efficiency", "reps": 20, "sample_size": 100, "nr": [2.0], "noises": [{"noise": "data"}]}
    first = run_sweep(parse_sweep(raw))["points"][0]["measured"]
    again = run_sweep(parse_sweep(raw))["points"][0]["measured"]
    other = run_sweep(parse_sweep({**raw, "seed": 1}))["points"][0]["measured"]
    assert first == again and first != other and math.isfinite(other)
