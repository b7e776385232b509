"""The batched Newton fits against autograd of the app's own losses (objectives.py): at the returned
θ̂ the gradient of each sample's loss is zero, so θ̂ is the exact estimator, not an approximation."""
import math

import pytest
import torch

from models.densities import Gaussian, UniformBox
from models.gaussian_fit import fit_nce, fit_ranking
from models.objectives import infonce_loss, nce_loss


def _normal_log_prob(x):
    return -0.5 * x * x - 0.5 * math.log(2 * math.pi)


def _nce_gradient(theta, x_data, log_q_data, x_noise, log_q_noise, nr):
    """∇θ of objectives.nce_loss for the model G = −λx²/2 (log Ẑ = −c), one sample."""
    lam = theta[0].clone().requires_grad_()
    log_z = (-theta[1]).clone().requires_grad_()
    loss = nce_loss(-0.5 * lam * x_data ** 2, -0.5 * lam * x_noise ** 2, log_q_data, log_q_noise, log_z, nr)
    g_lam, g_log_z = torch.autograd.grad(loss, [lam, log_z])
    return torch.stack([g_lam, -g_log_z])


def test_nce_fit_zeroes_the_gradient_of_the_app_loss_for_every_sample():
    gen = torch.Generator().manual_seed(3)
    x_data = torch.randn(5, 300, generator=gen, dtype=torch.float64)
    noise = Gaussian([0.5], [[4.0]])
    x_noise = noise.sample(5 * 900, gen).reshape(5, 900)
    log_q = lambda x: noise.log_prob(x.reshape(-1, 1)).reshape(x.shape)
    theta, converged = fit_nce(x_data, log_q(x_data), x_noise, log_q(x_noise), 3.0)
    assert bool(converged.all())
    for r in range(5):
        grad = _nce_gradient(theta[r], x_data[r], log_q(x_data[r]), x_noise[r], log_q(x_noise[r]), 3.0)
        assert grad.abs().max() < 1e-9, grad
    assert (theta[:, 0] - 1.0).abs().max() < 0.5  # λ̂ near λ* = 1 for 300 points
    # and the estimates differ from the MLE start (1 / mean x²): NCE is its own estimator
    assert ((1.0 / (x_data ** 2).mean(1)) - theta[:, 0]).abs().min() > 1e-6


def test_nce_fit_handles_data_outside_a_bounded_noise():
    """A uniform q that misses the tails: data there is 'surely data' and must not break the fit."""
    gen = torch.Generator().manual_seed(4)
    x_data = torch.randn(3, 400, generator=gen, dtype=torch.float64)
    noise = UniformBox([-1.5], [1.5])
    x_noise = noise.sample(3 * 2000, gen).reshape(3, 2000)
    log_q = lambda x: noise.log_prob(x.reshape(-1, 1)).reshape(x.shape)
    assert torch.isinf(log_q(x_data)).any()
    theta, converged = fit_nce(x_data, log_q(x_data), x_noise, log_q(x_noise), 5.0)
    assert bool(converged.all()) and bool(torch.isfinite(theta).all())
    for r in range(3):
        grad = _nce_gradient(theta[r], x_data[r], log_q(x_data[r]).clamp_min(-1e3), x_noise[r],
                             log_q(x_noise[r]), 5.0)
        assert grad.abs().max() < 1e-9


def test_ranking_fit_zeroes_the_gradient_of_the_app_infonce_loss():
    gen = torch.Generator().manual_seed(5)
    t, k = 200, 4
    x_data = torch.randn(4, t, generator=gen, dtype=torch.float64)
    x_noise = 2.0 * torch.randn(4, t, k, generator=gen, dtype=torch.float64)
    noise = Gaussian([0.0], [[4.0]])
    log_q = lambda x: noise.log_prob(x.reshape(-1, 1)).reshape(x.shape)
    lam_hat, converged = fit_ranking(x_data, log_q(x_data), x_noise, log_q(x_noise))
    assert bool(converged.all())
    for r in range(4):
        lam = lam_hat[r].clone().requires_grad_()
        loss = infonce_loss(-0.5 * lam * x_data[r] ** 2 - log_q(x_data[r]),
                            -0.5 * lam * x_noise[r] ** 2 - log_q(x_noise[r]))
        (grad,) = torch.autograd.grad(loss, [lam])
        assert abs(float(grad)) < 1e-9


def test_a_fit_hears_its_check_every_newton_iteration():
    """One repetition's fit of millions of points takes seconds: `check` (a sweep's cancel) is called each
    iteration, and what it raises ends the fit there."""
    gen = torch.Generator().manual_seed(6)
    x_data = torch.randn(2, 300, generator=gen, dtype=torch.float64)
    x_noise = 3.0 * torch.randn(2, 3000, generator=gen, dtype=torch.float64)
    noise = Gaussian([0.0], [[9.0]])
    log_q = lambda x: noise.log_prob(x.reshape(-1, 1)).reshape(x.shape)
    calls = []
    fit_nce(x_data, log_q(x_data), x_noise, log_q(x_noise), 10.0, lambda: calls.append(1))
    assert len(calls) >= 3  # q ≠ p_d: several iterations from the MLE's start, one call each

    class Cancelled(Exception):
        pass

    def cancel_at_the_second() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Cancelled()
    calls.clear()
    with pytest.raises(Cancelled):
        fit_ranking(x_data, log_q(x_data), x_noise.reshape(2, 300, 10), log_q(x_noise).reshape(2, 300, 10),
                    cancel_at_the_second)
    assert len(calls) == 2
