"""Exact fits of the 1-D Gaussian exponential family for many samples at once (float64 Newton).

    log u(x; θ) = λ·u(x) + c,   u(x) = −x²/2,   θ = (λ, c)

Both losses below are convex in θ (log-linear models), so damped Newton from the data's MLE reaches
each sample's exact minimiser in a handful of iterations, with no learning rate and no step count
to tune — the estimator itself, not an optimiser's approximation of it. Every tensor carries a
leading model axis R: R independent samples are fitted as one tensor program (on the GPU when the
tensors live there).

NCE (Gutmann & Hyvärinen 2012), T data points and N noise points per model:

    h(x) = λ·u(x) + c − log q(x) − log N_r
    J(θ) = −[ (1/T) Σ_data log σ(h) + (N_r/N) Σ_noise log σ(−h) ]
    ∇J   = −(1/T) Σ_data σ(−h) φ + (N_r/N) Σ_noise σ(h) φ,       φ = (u, 1)
    ∇²J  =  (1/T) Σ_data σ(h)σ(−h) φφᵀ + (N_r/N) Σ_noise σ(h)σ(−h) φφᵀ

Ranking NCE / InfoNCE (Ma & Collins 2018): each data point x_0 with k noise points x_1..x_k,
scores s_j = λ·u(x_j) − log q(x_j) (c cancels: it is not identified), π = softmax(s):

    J(λ)   = (1/T) Σ_i [ logsumexp_j s_ij − s_i0 ]
    J'(λ)  = (1/T) Σ_i [ Σ_j π_ij u_ij − u_i0 ]
    J''(λ) = (1/T) Σ_i [ Σ_j π_ij u_ij² − (Σ_j π_ij u_ij)² ]
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

LOG_Q_FLOOR = -1e3   # as in training: data where q = 0 is classified as data with certainty, finitely
FINAL_STEP = 1e-7    # a Newton step this small is the last one (quadratic convergence: its error is ~1e-14)
MAX_ITERATIONS = 60
MAX_HALVINGS = 40


def feature(x: torch.Tensor) -> torch.Tensor:
    """u(x) = −x²/2, the sufficient statistic of λ.   x: (..., ) -> (...)"""
    return -0.5 * x * x


def mle_init(u_data: torch.Tensor) -> torch.Tensor:
    """(R, 2): the maximum-likelihood θ of each data sample (λ = 1/mean x², c = ½ log(λ/2π))."""
    lam = 1.0 / (-2.0 * u_data.mean(1))  # (R,)
    return torch.stack([lam, 0.5 * torch.log(lam / (2 * torch.pi))], 1)


def _powers(x: torch.Tensor) -> torch.Tensor:
    """(R, 3, n) rows 1, u, u² of u(x) = −x²/2: every sum the loss needs is one matmul against these."""
    u = feature(x)
    return torch.stack([torch.ones_like(u), u, u * u], 1)


def _nce_parts(theta, data, off_data, noise, off_noise, noise_weight, with_loss=True):
    """Loss (R,) (None unless with_loss), gradient (R, 2) and Hessian (R, 2, 2) of J at theta (R, 2) = (λ, c).
    data, noise: (R, 3, n) powers of u; off_*: (R, 1, n) = −log q − log N_r."""
    lam, c = theta[:, 0].view(-1, 1, 1), theta[:, 1].view(-1, 1, 1)
    loss, grad, curve = 0.0, 0.0, 0.0
    for powers, offset, weight, sign in ((data, off_data, 1.0 / data.shape[2], -1.0),
                                         (noise, off_noise, noise_weight, 1.0)):
        # data: the loss is softplus(−h) and its derivative −σ(−h); noise: softplus(h) and σ(h)
        signed_h = torch.addcmul(offset, powers[:, 1:2], lam).add_(c)  # (R, 1, n) h = λu + c + offset
        if sign < 0:
            signed_h.neg_()
        if with_loss:
            loss = loss + F.softplus(signed_h).sum((1, 2)) * weight
        rows = torch.empty(powers.shape[0], 2, powers.shape[2], dtype=powers.dtype, device=powers.device)
        slope = torch.sigmoid(signed_h, out=rows[:, :1])  # σ(±h)
        torch.addcmul(slope, slope, slope, value=-1.0, out=rows[:, 1:])  # σ(h)σ(−h)
        moments = torch.bmm(rows, powers.transpose(1, 2)) * weight  # (R, 2, 3): Σ slope·(1, u, u²), Σ curve·(...)
        grad = grad + sign * moments[:, 0, :2]
        curve = curve + moments[:, 1]
    grad = grad.flip(1)  # (R, 2): ∂/∂λ (the u moment), ∂/∂c (the 1 moment)
    m0, m1, m2 = curve.unbind(1)  # Σ v, Σ v u, Σ v u²
    hess = torch.stack([torch.stack([m2, m1], 1), torch.stack([m1, m0], 1)], 1)  # (R, 2, 2) in (λ, c)
    return (loss if with_loss else None), grad, hess


def _newton(parts, theta: torch.Tensor,
            check: Optional[Callable[[], None]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Damped Newton on a batch of convex losses. parts(theta (R, P), with_loss) -> loss (R,) or None,
    grad (R, P), hess (R, P, P). A full step is taken when it shrinks the gradient (the common case:
    no loss to evaluate); otherwise, for the models where it does not, Armijo backtracking on the loss.
    `check` is called every iteration and every halving (it raises to cancel: one fit of many points
    takes seconds). Returns (theta, converged (R,))."""
    check = check or (lambda: None)
    _, grad, hess = parts(theta, False)
    done = torch.zeros(theta.shape[0], dtype=torch.bool, device=theta.device)
    for _ in range(MAX_ITERATIONS):
        check()
        step = torch.linalg.solve(hess, grad.unsqueeze(-1)).squeeze(-1)  # (R, P)
        step = torch.where(torch.isfinite(step) & ~done.unsqueeze(1), step, torch.zeros_like(step))
        final = ~done & (step.abs().amax(1) < FINAL_STEP * (1.0 + theta.abs().amax(1)))
        theta = theta - torch.where(final.unsqueeze(1), step, torch.zeros_like(step))  # taken unchecked
        done = done | final
        if bool(done.all()):
            break
        step = torch.where(done.unsqueeze(1), torch.zeros_like(step), step)
        candidate = theta - step
        _, c_grad, c_hess = parts(candidate, False)
        accepted = (c_grad.norm(dim=1) < grad.norm(dim=1)) | done
        if not bool(accepted.all()):
            loss = parts(theta, True)[0]
            decrease = (grad * step).sum(1)  # ≥ 0 for a convex loss
            scale = torch.ones_like(loss)
            for _ in range(MAX_HALVINGS):
                check()
                candidate = theta - scale.unsqueeze(1) * step
                c_loss, c_grad, c_hess = parts(candidate, True)
                slack = 1e-13 * loss.abs()  # rounding: near the optimum the loss may not drop at all
                accepted = (c_loss <= loss - 1e-4 * scale * decrease + slack) | done
                if bool(accepted.all()):
                    break
                scale = torch.where(accepted, scale, 0.5 * scale)
        theta = torch.where(accepted.unsqueeze(1), candidate, theta)
        grad = torch.where(accepted.unsqueeze(1), c_grad, grad)
        hess = torch.where(accepted.view(-1, 1, 1), c_hess, hess)
    return theta, done


def fit_nce(x_data: torch.Tensor, log_q_data: torch.Tensor, x_noise: torch.Tensor, log_q_noise: torch.Tensor,
            nr: float, check: Optional[Callable[[], None]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """NCE estimates θ̂ = (λ̂, ĉ) of R samples.   x_data, log_q_data: (R, T); x_noise, log_q_noise: (R, N).
    Returns theta (R, 2) float64 and converged (R,). `check`: called every Newton iteration (raises to cancel).
    Memory: ~70 bytes per data or noise point (the powers of u, the offsets and one iteration's temporaries)."""
    data, noise = _powers(x_data.double()), _powers(x_noise.double())
    log_nr = math.log(nr)
    off_data = (-log_q_data.double().clamp_min(LOG_Q_FLOOR) - log_nr).unsqueeze(1)  # (R, 1, T)
    off_noise = (-log_q_noise.double().clamp_min(LOG_Q_FLOOR) - log_nr).unsqueeze(1)  # (R, 1, N)
    noise_weight = float(nr) / x_noise.shape[1]  # N_r · mean over the N noise points
    return _newton(lambda theta, with_loss: _nce_parts(theta, data, off_data, noise, off_noise, noise_weight,
                                                       with_loss), mle_init(data[:, 1]), check)


def _ranking_parts(theta, u, offset):
    """J, J', J'' of ranking NCE at λ = theta (R, 1) (the loss comes free with the softmax).   u, offset: (R, T, 1+k), column 0 the data."""
    scores = theta[:, :1, None] * u + offset  # (R, T, 1+k)
    log_norm = torch.logsumexp(scores, 2)  # (R, T)
    loss = (log_norm - scores[..., 0]).mean(1)
    pi = torch.exp(scores - log_norm.unsqueeze(2))
    mean_u = (pi * u).sum(2)  # (R, T) E_π u
    grad = (mean_u - u[..., 0]).mean(1)
    curvature = ((pi * u * u).sum(2) - mean_u * mean_u).mean(1)  # Var_π u ≥ 0
    return loss, grad.unsqueeze(1), curvature.view(-1, 1, 1)


def fit_ranking(x_data: torch.Tensor, log_q_data: torch.Tensor, x_noise: torch.Tensor,
                log_q_noise: torch.Tensor,
                check: Optional[Callable[[], None]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranking-NCE estimates λ̂ of R samples.   x_data, log_q_data: (R, T); x_noise, log_q_noise: (R, T, k),
    the k noise points paired with each data point. Returns lam (R,) float64 and converged (R,).
    `check`: called every Newton iteration (raises to cancel)."""
    x = torch.cat([x_data.double().unsqueeze(2), x_noise.double()], 2)  # (R, T, 1+k)
    log_q = torch.cat([log_q_data.double().unsqueeze(2), log_q_noise.double()], 2)
    u, offset = feature(x), -log_q.clamp_min(LOG_Q_FLOOR)
    theta, converged = _newton(lambda theta, with_loss: _ranking_parts(theta, u, offset), mle_init(u[..., 0])[:, :1],
                               check)
    return theta[:, 0], converged
