"""Presets and noise families: each density integrates to 1 (quadrature is the oracle) and its
sampler draws from that density (binned frequencies against quadrature masses)."""
import math

import pytest
import torch

from models.densities import UniformBox
from models.data import DATA_PRESETS, correlation_for_mi, data_box
from models.grid import Grid
from models.noise import NOISE_FAMILIES, DataStats, build_noise

SAMPLES = 200_000
BINS = 8


def _binned_check(density, box, grid_n):
    """Largest gap between the empirical bin frequencies of SAMPLES draws and the bin masses that
    quadrature of log_prob gives, on BINS bins per axis over `box`."""
    grid = Grid(box, grid_n)
    mass = (density.log_prob(grid.points64).exp() * math.exp(grid.log_cell))  # (M,)
    xs = density.sample(SAMPLES, torch.Generator().manual_seed(7))
    cells_per_bin = grid_n // BINS

    def bin_index(points):
        idx = ((points - box[:, 0]) / (box[:, 1] - box[:, 0]) * BINS).floor().long().clamp(0, BINS - 1)
        return idx[:, 0] if density.dim == 1 else idx[:, 1] * BINS + idx[:, 0]

    inside = ((xs >= box[:, 0]) & (xs <= box[:, 1])).all(1)
    empirical = torch.bincount(bin_index(xs[inside]), minlength=BINS ** density.dim).double() / SAMPLES
    expected = torch.zeros(BINS ** density.dim, dtype=torch.float64).index_add_(0, bin_index(grid.points64), mass)
    assert grid_n % BINS == 0 and cells_per_bin >= 1
    return (empirical - expected).abs().max().item()


@pytest.mark.parametrize("name", sorted(DATA_PRESETS))
def test_preset_integrates_to_one_on_its_grid(name):
    density = DATA_PRESETS[name].build(1.0)
    box = data_box(density.sample(50_000, torch.Generator().manual_seed(0)))
    grid = Grid(box, 128)  # the default grid
    total = grid.log_integral(density.log_prob(grid.points64)).exp().item()
    # midpoint rule on the default grid; Laplace's cusp costs the most (~1e-3)
    assert total == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("name", sorted(DATA_PRESETS))
def test_preset_samples_match_its_density(name):
    density = DATA_PRESETS[name].build(1.0)
    box = data_box(density.sample(50_000, torch.Generator().manual_seed(0)))
    # bin frequency standard error is at most sqrt(0.25 / 2e5) ≈ 1.1e-3; 5e-3 is > 4 standard errors
    assert _binned_check(density, box, 128 if density.dim == 2 else 512) < 5e-3


@pytest.mark.parametrize("family", sorted(NOISE_FAMILIES))
@pytest.mark.parametrize("preset", ["bimodal", "two_moons"])
@pytest.mark.parametrize("fit", [True, False])
def test_noise_family_is_a_density_and_samples_from_it(family, preset, fit):
    data = DATA_PRESETS[preset].build(1.0)
    box = data_box(data.sample(50_000, torch.Generator().manual_seed(0)))
    noise = build_noise(family, DataStats.of(data), box, fit, loc=0.3, scale=1.2)
    # a box wide enough for the heavy tails of student_t (3 d.o.f.: mass beyond 20 ~ 1e-4);
    # the uniform is integrated over its own support, where the midpoint rule is exact
    wide = torch.tensor([[-20.0, 20.0]] * data.dim, dtype=torch.float64)
    if isinstance(noise, UniformBox):
        wide = torch.stack([noise.low, noise.high], 1)
    grid = Grid(wide, 4096 if data.dim == 1 else 1024)
    total = grid.log_integral(noise.log_prob(grid.points64)).exp().item()
    assert total == pytest.approx(1.0, abs=3e-3)
    check_box = torch.tensor([[-6.0, 6.0]] * data.dim, dtype=torch.float64)
    assert _binned_check(noise, check_box, 512 if data.dim == 1 else 256) < 5e-3


def test_fitted_gaussian_noise_has_the_data_moments():
    data = DATA_PRESETS["two_moons"].build(1.0)
    stats = DataStats.of(data)
    xs = data.sample(200_000, torch.Generator().manual_seed(3))
    noise = build_noise("gaussian", stats, torch.zeros(2, 2), True, 0.0, 1.0)
    assert torch.allclose(noise.mean, xs.mean(0), atol=0.01)
    assert torch.allclose(noise.cov, torch.cov(xs.T), atol=0.02)


@pytest.mark.parametrize("mi", [0.1, 1.0, 3.0])
def test_correlated_gaussian_has_the_chosen_mutual_information(mi):
    """I(x; y) = h(x) + h(y) − h(x, y), each entropy by quadrature of the preset's own density."""
    rho = correlation_for_mi(mi)
    density = DATA_PRESETS["correlated_gaussian"].build(mi)
    grid = Grid(torch.tensor([[-7.0, 7.0], [-7.0, 7.0]], dtype=torch.float64), 400)
    log_joint = density.log_prob(grid.points64)
    joint = log_joint.exp() * math.exp(grid.log_cell)
    marginal_entropy = 0.5 * math.log(2 * math.pi * math.e)  # both margins are N(0, 1)
    joint_entropy = -(joint * log_joint).sum().item()
    assert 2 * marginal_entropy - joint_entropy == pytest.approx(mi, abs=5e-3)
    assert rho == pytest.approx(math.sqrt(1 - math.exp(-2 * mi)))
