"""The gradient comparison against the seed's closed form (eq. 42–47), with autograd's Jacobian of
G on the grid as the only shared piece."""
import math

import pytest
import torch
from torch.func import functional_call, jacfwd

from models.data import DATA_PRESETS, data_box
from models.energy import GaussianEnergy, MLPEnergy
from models.gradients import NR_LADDER, compare, noise_weight, population_gradients
from models.grid import Grid
from models.noise import DataStats, build_noise
from models.objectives import population_nce_loss


def _setup(preset="bimodal", n=256, seed=0):
    torch.manual_seed(seed)
    data = DATA_PRESETS[preset].build(1.0)
    box = data_box(data.sample(50_000, torch.Generator().manual_seed(0)))
    grid = Grid(box, n)
    noise = build_noise("gaussian", DataStats.of(data), box, fit=True, loc=0.0, scale=1.0)
    model = MLPEnergy(data.dim, hidden=16, depth=2, learn_log_z=True)
    return model, grid, data.log_prob(grid.points64), noise.log_prob(grid.points64)


def _theta(model):
    """(θ, frozen): the trained network parameters and the frozen ones, float64, by name."""
    theta = {k: v.detach().double() for k, v in model.network_parameters().items()}
    frozen = {k: v.detach().double() for k, v in model.network_parameters(frozen=True).items() if k not in theta}
    return theta, frozen


def _jacobian_and_g(model, points):
    """(∇θ G per cell (M, P), G (M,)), by forward-mode autograd over θ only."""
    theta, frozen = _theta(model)
    jac = jacfwd(lambda p: functional_call(model, {**frozen, **p}, (points,)))(theta)
    jac = torch.cat([j.reshape(points.shape[0], -1) for j in jac.values()], 1)  # (M, P)
    return jac, functional_call(model, {**frozen, **theta}, (points,))


def _closed_form(model, grid, log_pd, log_q, nr, through_log_z=False):
    """The gradient of the loss, −Σ Δ w (p_d − p_θ) ∇G with w = N_r q / (p_θ + N_r q): the form the panel
    shows (log Ẑ held at log Z). through_log_z: the seed's eq. 44 instead, with ∇ log p_θ = ∇G − ∇ log Z_θ."""
    jac, g = _jacobian_and_g(model, grid.points64)
    log_p = g - grid.log_integral(g)
    if through_log_z:
        jac = jac - log_p.exp() @ jac * math.exp(grid.log_cell)  # ∇ log Z_θ = Σ Δ p_θ ∇G
    cell = math.exp(grid.log_cell)
    if nr == math.inf:
        weight = torch.ones_like(log_p)
    else:
        weight = noise_weight(log_p, log_q, nr)
    coefficient = cell * (log_pd.exp() - log_p.exp()) * weight  # (M,)
    return -(coefficient @ jac)  # the gradient of the loss


def _autograd_of_the_loss(model, grid, log_pd, log_q, nr):
    """∇θ of population_nce_loss itself (reverse mode through the network), log Ẑ := log Z_θ as a constant."""
    theta, frozen = _theta(model)
    theta = {k: v.requires_grad_() for k, v in theta.items()}
    g = functional_call(model, {**frozen, **theta}, (grid.points64,))
    log_z = grid.log_integral(g).detach()
    loss = population_nce_loss(g, log_pd, log_q, log_z, torch.tensor([[nr]], dtype=torch.float64), grid.log_cell)
    grads = torch.autograd.grad(loss.sum(), list(theta.values()))
    return torch.cat([gr.reshape(-1) for gr in grads])


@pytest.mark.parametrize("preset", ["bimodal", "two_moons"])
@pytest.mark.parametrize("nr", [0.1, 1.0, 37.0, 1000.0])
def test_autograd_nce_gradient_equals_the_seeds_closed_form(preset, nr):
    model, grid, log_pd, log_q = _setup(preset, n=256 if preset == "bimodal" else 48)
    _, g_nce = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [nr])
    expected = _closed_form(model, grid, log_pd, log_q, nr)
    assert torch.allclose(g_nce[0], expected, rtol=1e-9, atol=1e-12)


def test_limit_of_the_closed_form_is_the_mle_gradient():
    """Seed eq. 45–47: with w = 1, Σ (p_d − p_θ) ∇ log p_θ equals the MLE gradient (Z exact)."""
    model, grid, log_pd, log_q = _setup()
    g_mle, _ = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [1.0])
    limit = _closed_form(model, grid, log_pd, log_q, math.inf)
    assert torch.allclose(g_mle, limit, rtol=1e-9, atol=1e-12)


def test_nce_gradient_error_shrinks_like_one_over_nr():
    model, grid, log_pd, log_q = _setup()
    ladder = [100.0, 1000.0, 10000.0, 100000.0]  # asymptotic once N_r q ≫ p_θ on the data
    g_mle, g_nce = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, ladder)
    errors = (g_nce - g_mle).norm(dim=1)
    ratios = errors[1:] / errors[:-1]  # each step is 10x in N_r
    assert torch.all((ratios > 0.07) & (ratios < 0.13)), ratios
    cos, norm_ratio = compare(g_mle, g_nce)
    assert cos[-1] > 1 - 1e-6 and float(norm_ratio[-1]) == pytest.approx(1.0, abs=1e-3)
    assert cos[0] < cos[-1]


def test_small_nr_gradient_differs_from_mle():
    """The comparison is not trivially 1: at N_r = 0.1 the NCE gradient points elsewhere."""
    model, grid, log_pd, log_q = _setup()
    g_mle, g_nce = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [0.1])
    cos, norm_ratio = compare(g_mle, g_nce)
    assert norm_ratio[0] < 0.5


@pytest.mark.parametrize("depth", [1, 3])
def test_mlp_contraction_equals_the_closed_form_at_any_depth(depth):
    """The MLP's layer-by-layer contraction Σ_c v_c ∇θ G(x_c) (one backward, not one per N_r) against eq. 42–44."""
    torch.manual_seed(depth)
    _, grid, log_pd, log_q = _setup("two_moons", n=32)
    model = MLPEnergy(2, hidden=8, depth=depth, learn_log_z=True)
    _, g_nce = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [0.5, 20.0])
    for row, nr in enumerate([0.5, 20.0]):
        assert torch.allclose(g_nce[row], _closed_form(model, grid, log_pd, log_q, nr), rtol=1e-9, atol=1e-12)


def test_other_models_take_the_batched_backward():
    """A model that is not the MLP (here the Gaussian energy) goes through one batched backward: same oracle."""
    _, grid, log_pd, log_q = _setup("two_moons", n=48)
    model = GaussianEnergy(2, learn_log_z=True)
    with torch.no_grad():
        model.mu.copy_(torch.tensor([0.3, -0.2]))
        model.log_precision.copy_(torch.tensor([0.5, -0.4]))
    g_mle, g_nce = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [4.0])
    assert torch.allclose(g_nce[0], _closed_form(model, grid, log_pd, log_q, 4.0), rtol=1e-9, atol=1e-12)
    assert torch.allclose(g_mle, _closed_form(model, grid, log_pd, log_q, math.inf), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("preset", ["eight_gaussians", "two_moons", "rings", "checkerboard", "spirals", "pinwheel"])
def test_float32_contraction_agrees_with_float64(preset):
    """The Trainer's 2-D comparison contracts over cells in float32 (G and the cotangents stay float64).
    On the frames' 64×64 grid with the app's 64-wide MLP, cos and ‖g_nce‖/‖g_mle‖ move by < 1e-6 at
    every N_r of the ladder (measured ~1e-8), and the gradients themselves by < 1e-5 of their norm."""
    model, grid, log_pd, log_q = _setup(preset, n=64)
    model = MLPEnergy(2, hidden=64, depth=2, learn_log_z=True)
    exact = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, NR_LADDER, torch.float64)
    fast = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, NR_LADDER, torch.float32)
    for a, b in zip(compare(*exact), compare(*fast)):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), (a - b).abs().max()
    assert (fast[0] - exact[0]).norm() < 1e-5 * exact[0].norm()
    assert ((fast[1] - exact[1]).norm(dim=1) < 1e-5 * exact[1].norm(dim=1)).all()


@pytest.mark.parametrize("preset,nr,learn_log_z", [("bimodal", 0.1, True), ("bimodal", 3.0, False),
                                                   ("two_moons", 0.5, True)])
def test_the_shown_formula_is_the_computed_gradient(preset, nr, learn_log_z):
    """The panel's formula, −∇L = Σ Δ w (p_d − p_θ) ∇θ G (log Ẑ held at log Z), against autograd through the
    network on the quadrature loss, and against what the panel plots (population_gradients), to 1e-8.
    learn_log_z=False trains the output bias, so θ then holds it too."""
    model, grid, log_pd, log_q = _setup(preset, n=256 if preset == "bimodal" else 40)
    model = MLPEnergy(grid.dim, hidden=16, depth=2, learn_log_z=learn_log_z)
    assert ("head.bias" in model.network_parameters()) is (not learn_log_z)
    autograd = _autograd_of_the_loss(model, grid, log_pd, log_q, nr)
    shown = _closed_form(model, grid, log_pd, log_q, nr)
    _, plotted = population_gradients(model, grid.points64, grid.log_cell, log_pd, log_q, [nr])
    scale = float(autograd.norm())
    assert scale > 1e-3  # a gradient worth comparing
    assert float((shown - autograd).norm()) < 1e-8 * scale
    assert float((plotted[0] - autograd).norm()) < 1e-8 * scale


def test_the_seeds_eq44_form_is_a_different_gradient_at_small_nr():
    """Eq. 44 (∇ log p_θ, i.e. through log Z_θ) is not what is computed: at N_r = 0.1 it points elsewhere;
    as N_r grows the two forms meet (both → g_mle), about like 1/N_r. Measured here: at N_r = 0.1 cos = −0.18
    between them and ‖difference‖ = 1.45 ‖shown‖; at 1e4 the difference is 8.6e-4 of it, at 1e5 ~9e-5."""
    model, grid, log_pd, log_q = _setup()
    for nr, far in [(0.1, True), (1e5, False)]:
        shown = _closed_form(model, grid, log_pd, log_q, nr)
        eq44 = _closed_form(model, grid, log_pd, log_q, nr, through_log_z=True)
        cos = float(shown @ eq44 / (shown.norm() * eq44.norm()))
        relative = float((shown - eq44).norm() / shown.norm())
        if far:
            assert relative > 0.2 and cos < 0.99, (relative, cos)
        else:
            assert relative < 1e-3 and cos > 1 - 1e-6, (relative, cos)
