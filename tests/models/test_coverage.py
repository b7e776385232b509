"""noise_coverage (models/coverage.py): the share of the data's mass that N_r q reaches, against a closed form
and on the cases that motivated it (a broad q that works, a q beside the data that does not)."""
import math

import pytest
import torch

from models.config import parse_config
from models.coverage import COVERAGE_EPS, COVERAGE_WARN, noise_coverage
from models.trainer import Trainer


def _phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _closed_form(mu, s, nr, eps=COVERAGE_EPS):
    """p_d = N(0, 1), q = N(mu, s²): N_r q ≥ ε p_d  ⇔  a x² + b x + c ≥ 0 with
    a = ½ − 1/(2s²), b = mu/s², c = log(N_r/ε) − log s − mu²/(2s²); the N(0, 1) mass of that set by Φ."""
    a, b, c = 0.5 - 0.5 / s ** 2, mu / s ** 2, math.log(nr / eps) - math.log(s) - mu ** 2 / (2 * s ** 2)
    if abs(a) < 1e-15:  # s = 1: a half-line
        root = -c / b
        return 1 - _phi(root) if b > 0 else _phi(root)
    disc = b * b - 4 * a * c
    if disc <= 0:
        return 1.0 if a > 0 else 0.0
    lo, hi = sorted([(-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a)])
    inside = _phi(hi) - _phi(lo)
    return inside if a < 0 else 1 - inside  # a < 0 (s < 1): between the roots; a > 0: outside them


@pytest.mark.parametrize("mu,s,nr", [(7.0, 1.0, 10.0), (0.0, 0.35, 10.0), (2.0, 0.5, 1.0), (1.0, 3.0, 0.1)])
def test_coverage_against_the_closed_form(mu, s, nr):
    x = torch.linspace(-10, 10, 20_001, dtype=torch.float64)
    log_pd = -0.5 * x ** 2 - 0.5 * math.log(2 * math.pi)
    log_q = -0.5 * ((x - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    expected = _closed_form(mu, s, nr)
    assert noise_coverage(log_pd, log_q, nr) == pytest.approx(expected, abs=2e-3)
    assert 0.0 < expected < 1.0 or (mu, s) == (1.0, 3.0)  # the cases cut the data, except the broad q


def test_the_default_epsilon_is_one_percent_as_the_page_says():
    """The page's warning says "N_r q < 1% of p_d": the default ε must be that 1%, whatever the constant's name."""
    x = torch.linspace(-10, 10, 20_001, dtype=torch.float64)
    log_pd = -0.5 * x ** 2 - 0.5 * math.log(2 * math.pi)
    log_q = -0.5 * ((x - 2.0) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)
    assert noise_coverage(log_pd, log_q, 1.0) == pytest.approx(_closed_form(2.0, 0.5, 1.0, eps=0.01), abs=2e-3)
    assert abs(_closed_form(2.0, 0.5, 1.0, eps=0.01) - _closed_form(2.0, 0.5, 1.0, eps=0.1)) > 0.05  # ε matters here


def _coverage(**knobs):
    trainer = Trainer(parse_config({"method": "nce", "data": "bimodal", **knobs}))
    return trainer, trainer.frame(with_grad=False, arrays=False)["noise_coverage"]


def test_a_broad_noise_is_not_flagged():
    """q = N(0, 10²) overlaps the bimodal data by only ∫ min(p_d, q) = 0.26 (the old measure flagged it),
    yet N_r q is far above 1% of p_d everywhere the data is, and NCE learns fine with it."""
    _, coverage = _coverage(noise_fit=False, noise_loc=0, noise_scale=10)
    assert coverage > COVERAGE_WARN and coverage == pytest.approx(1.0, abs=1e-6)


def test_far_and_narrow_noise_are_flagged_and_nr_counts():
    """Lesson 4's q = N(7, 1) reaches ~3% of the data; lesson 3's narrow q ~34%. N_r scales the noise term
    like q, so more of it reaches more of the data, and a live change of nr shows in the next frame."""
    trainer, far = _coverage(noise_fit=False, noise_loc=7, noise_scale=1, nr=10)
    assert far < 0.1
    _, narrow = _coverage(noise_fit=False, noise_loc=0, noise_scale=0.35, nr=10)
    assert 0.2 < narrow < 0.5
    trainer.apply({"nr": 1000})
    assert trainer.frame(with_grad=False, arrays=False)["noise_coverage"] > far
