"""Objectives against the seed's definitions written out independently."""
import math

import torch
from hypothesis import given, settings, strategies as st

from models.objectives import cpc_loss, infonce_loss, mle_loss, nce_loss


def test_nce_loss_is_the_seeds_posterior_likelihood():
    """Seed eq. 20–28: P(C=1|x) = p_θ / (p_θ + N_r q), loss = −[mean log P(C=1|x_pos) + N_r mean log P(C=0|x_neg)]."""
    gen = torch.Generator().manual_seed(0)
    g_pos, g_neg = torch.randn(50, generator=gen, dtype=torch.float64), torch.randn(300, generator=gen, dtype=torch.float64)
    log_q_pos, log_q_neg = -torch.rand(50, generator=gen, dtype=torch.float64), -torch.rand(300, generator=gen, dtype=torch.float64)
    log_z, nr = torch.tensor(0.7, dtype=torch.float64), 6.0
    p_pos, p_neg = torch.exp(g_pos - log_z), torch.exp(g_neg - log_z)
    q_pos, q_neg = log_q_pos.exp(), log_q_neg.exp()
    posterior_pos = p_pos / (p_pos + nr * q_pos)
    posterior_neg_noise = nr * q_neg / (p_neg + nr * q_neg)
    expected = -(torch.log(posterior_pos).mean() + nr * torch.log(posterior_neg_noise).mean())
    got = nce_loss(g_pos, g_neg, log_q_pos, log_q_neg, log_z, nr)
    assert torch.allclose(got, expected, rtol=1e-12)


def test_mle_loss_is_negative_mean_log_density():
    g = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    assert math.isclose(float(mle_loss(g, torch.tensor(1.5))), -(0.5 - 1.0 + 2.0) / 3 + 1.5, rel_tol=1e-12)


def test_infonce_is_invariant_to_shifting_g():
    gen = torch.Generator().manual_seed(1)
    s_pos, s_neg = torch.randn(8, generator=gen), torch.randn(8, 5, generator=gen)
    assert torch.allclose(infonce_loss(s_pos, s_neg), infonce_loss(s_pos + 3.0, s_neg + 3.0), atol=1e-6)
    # and it is the softmax cross-entropy of the positive
    logits = torch.cat([s_pos[:, None], s_neg], 1)
    expected = torch.nn.functional.cross_entropy(logits, torch.zeros(8, dtype=torch.long))
    assert torch.allclose(infonce_loss(s_pos, s_neg), expected, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(batch=st.integers(2, 40), scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**16))
def test_cpc_bound_never_exceeds_log_batch(batch, scale, seed):
    scores = scale * torch.randn(batch, batch, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert math.log(batch) - float(cpc_loss(scores)) <= math.log(batch) + 1e-12
