"""One free constant, never two (models/energy.py): the output layer's bias is trained only where it is the
constant the loss needs (NCE with log Ẑ held at 0); where the loss cannot see it, Adam no longer moves it."""
import pytest
import torch

from models.batched import BatchedTrainer
from models.config import RunConfig
from models.energy import MLPEnergy, offset_is_free
from models.objectives import infonce_loss, mle_loss, nce_loss
from models.trainer import Trainer

SMALL = {"hidden": 16, "batch_size": 64, "k": 8, "grid": 64, "lr_decay": False}


@pytest.mark.parametrize("method,learn_log_z,bias,log_z", [("mle", True, False, True), ("infonce", True, False, True),
                                                           ("nce", True, False, True), ("nce", False, True, False)])
def test_exactly_the_identifiable_constants_are_trained(method, learn_log_z, bias, log_z):
    trainer = Trainer(RunConfig(method=method, learn_log_z=learn_log_z, **SMALL))
    model = trainer.model
    assert offset_is_free(method, learn_log_z) is bias
    assert model.head.bias.requires_grad is bias and ("head.bias" in model.network_parameters()) is bias
    assert model.log_z_est.requires_grad is log_z
    if not bias:
        assert model.head.bias.item() == 0.0  # frozen at 0 from the start


def test_the_frozen_bias_is_invisible_or_redundant_to_every_loss():
    """Why it may be frozen: MLE and InfoNCE do not change when b moves; NCE does not change when b and
    log Ẑ move together (so a learned log Ẑ already is that constant); only with log Ẑ held does b matter."""
    torch.manual_seed(0)
    model = MLPEnergy(1, 8, 2, learn_log_z=True)
    x_data, x_noise, grid = torch.randn(32, 1), 3 * torch.randn(64, 1), torch.linspace(-6, 6, 200).unsqueeze(1)
    log_q_data, log_q_noise = -x_data[:, 0] ** 2 / 18, -x_noise[:, 0] ** 2 / 18

    def losses(shift_b, shift_log_z):
        with torch.no_grad():
            model.head.bias.fill_(shift_b)
            model.log_z_est.fill_(shift_log_z)
            g_data, g_noise, g_grid = model(x_data), model(x_noise), model(grid)
            log_z_true = torch.logsumexp(g_grid, 0) + torch.log(torch.tensor(12 / 200))
            scores = torch.cat([g_data - log_q_data, g_noise[:64] - log_q_noise[:64]])
            return (float(mle_loss(g_data, log_z_true)),
                    float(infonce_loss(scores[:32], scores[32:].reshape(32, 2))),
                    float(nce_loss(g_data, g_noise, log_q_data, log_q_noise, model.log_z_est, 2.0)))

    mle, infonce, nce = losses(0.0, 0.0)
    mle_b, infonce_b, nce_b = losses(0.7, 0.0)
    assert mle_b == pytest.approx(mle, abs=1e-5) and infonce_b == pytest.approx(infonce, abs=1e-5)
    assert abs(nce_b - nce) > 1e-2  # with log Ẑ held, b matters to NCE
    assert losses(0.7, 0.7)[2] == pytest.approx(nce, abs=1e-6)  # b and log Ẑ: one direction, not two


@pytest.mark.parametrize("method", ["infonce", "mle"])
def test_adam_no_longer_moves_a_constant_the_loss_cannot_see(method):
    """The bias's true gradient under InfoNCE and MLE is 0; Adam, dividing the rounding noise of that 0 by
    its own scale, used to move it (and log Z with it) by ~lr per step: 0.11–0.12 in 200 InfoNCE steps on
    seeds 0–2, 0.02–0.29 under MLE. Now it stays at 0; the control re-enables it and sees the drift."""
    trainer = Trainer(RunConfig(method=method, seed=0, **SMALL))
    trainer.step(200)
    assert trainer.model.head.bias.item() == 0.0
    if method == "infonce":
        old = Trainer(RunConfig(method=method, seed=0, **SMALL))
        old.model.head.bias.requires_grad_(True)  # the old arrangement
        old.step(200)
        assert abs(old.model.head.bias.item()) > 0.05


def test_live_changes_move_the_free_constant_between_b_and_log_z():
    trainer = Trainer(RunConfig(method="nce", steps=1000, **SMALL))
    trainer.step(20)
    trainer.apply({"learn_log_z": False})  # log Ẑ held at 0: b becomes the constant
    assert trainer.model.head.bias.requires_grad and not trainer.model.log_z_est.requires_grad
    trainer.step(20)
    moved = trainer.model.head.bias.item()
    assert moved != 0.0 and float(trainer.model.log_z_est) == 0.0
    snapshot = trainer.snapshot()
    assert "head.bias" in snapshot.model.network_parameters()  # the gradient panel's θ follows
    trainer.apply({"method": "mle"})  # MLE cannot see b: frozen where it is (p_θ unchanged), its Adam state gone
    assert not trainer.model.head.bias.requires_grad and trainer.model.head.bias not in trainer.optimizer.state
    trainer.step(20)
    assert trainer.model.head.bias.item() == moved
    again = trainer.snapshot(reuse=snapshot)
    assert "head.bias" not in again.model.network_parameters()


def test_the_batched_trainer_freezes_the_same_bias():
    trainers = [Trainer(RunConfig(method="nce", seed=s, sample_size=64, steps=50, **SMALL)) for s in (0, 1)]
    batched = BatchedTrainer(trainers)
    head_bias = batched.network.biases[-1]
    assert not head_bias.requires_grad and batched.network.biases[0].requires_grad
    batched.step(10)
    assert torch.equal(head_bias, torch.zeros_like(head_bias))
