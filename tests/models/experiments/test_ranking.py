"""`ranking`: the Monte Carlo sandwich theory against its closed form for q = p_d (1 + 1/k), and the
measured variance of λ̂ against that theory."""
import pytest

from models.experiments import parse_sweep, run_sweep
from models.experiments.common import NoiseSpec, Z_95
from models.experiments.ranking import sandwich_parts, theory


def test_monte_carlo_theory_matches_the_closed_form_when_q_is_the_data():
    ks = [1, 4, 16, 64]
    values = theory(NoiseSpec(noise="data"), ks)
    for k, value in zip(ks, values):
        assert value == pytest.approx(1 + 1 / k, rel=0.015)  # Monte Carlo: well under 1% standard error


@pytest.mark.parametrize("spec", [NoiseSpec(noise="gaussian", noise_scale=2.0), NoiseSpec(noise="laplace"),
                                  NoiseSpec(noise="gaussian", noise_loc=1.0)])
def test_the_information_identity_holds_for_other_noises(spec):
    """V = H, which lets the theory be 1/H: estimated term by term, the two agree within Monte Carlo error."""
    curvature, score_sq = sandwich_parts(spec, 4, 2_000_000)
    assert score_sq == pytest.approx(curvature, rel=0.03)


def test_measured_variance_follows_the_theory_and_c_is_not_identified():
    result = run_sweep(parse_sweep({"experiment": "ranking", "reps": 300, "sample_size": 300, "k": [1, 8],
                                    "noises": [{"noise": "data"}, {"noise": "laplace"}]}))
    for point in result["points"]:
        standard_error = (point["ci"][1] - point["ci"][0]) / (2 * Z_95)
        assert abs(point["measured"] - point["theory"]) < 4 * standard_error + 0.1 * point["theory"], point
        assert point["c_identified"] is False
    by_k = {(p["label"], p["k"]): p["theory"] for p in result["points"]}
    assert by_k[("q = p_d", 8)] < by_k[("q = p_d", 1)]  # more negatives, closer to the MLE
