"""Formulas of the live run checked against closed forms, so a wrong term cannot pass unnoticed
(issue 19: each test here was seen to fail on a hand-made mutant of the formula it guards)."""
import math

import pytest
import torch

from models.config import RunConfig
from models.trainer import Trainer


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_infonce_learns_p_d_itself_when_q_differs_from_it(seed):
    """InfoNCE's scores are G − log q: at the optimum G = log p_d + const whatever q is. Without the
    − log q the model learns p_d / q instead (KL ~0.09 here). Measured on seeds 0-2: KL ≤ 7e-5."""
    cfg = RunConfig(method="infonce", data="gaussian", model="gaussian", steps=300, seed=seed,
                    noise_fit=False, noise_loc=-1.5, noise_scale=2.0)  # q = N(−1.5, 2²), p_d = N(0.5, 1)
    trainer = Trainer(cfg)
    trainer.step(cfg.steps)
    assert 0.0 <= trainer.frame(with_grad=False, arrays=False)["kl"] < 2e-3


@pytest.mark.parametrize("batch_size", [8, 256])
def test_cpc_estimate_of_a_constant_critic_is_exactly_zero(batch_size):
    """With every score equal the in-batch loss is log B exactly, so the estimate log B − loss is 0
    (log(B − 1) − loss would be log((B − 1)/B): −0.13 at B = 8)."""
    trainer = Trainer(RunConfig(method="cpc", batch_size=batch_size, steps=10))
    with torch.no_grad():
        for module in {id(m): m for m in (trainer.model, trainer.shown)}.values():
            for parameter in module.parameters():
                parameter.zero_()  # embeddings all 0: every score f(x, y) = 0
    frame = trainer.frame(with_grad=False, arrays=False)
    assert frame["mi_estimate"] == pytest.approx(0.0, abs=1e-6)
    assert frame["mi_cap"] == pytest.approx(math.log(batch_size))
