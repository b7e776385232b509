"""Batched models against the same models trained alone: StackedMLP computes each MLP's output, and
model r of a BatchedTrainer follows Trainer(seed = r) step for step."""
import pytest
import torch
from torch import nn

from models import batched as batched_module
from models.batched import BatchedTrainer, StackedMLP
from models.config import RunConfig
from models.trainer import Trainer


def test_stacked_mlp_equals_each_mlp():
    mlps = [nn.Sequential(nn.Linear(2, 8), nn.SiLU(), nn.Linear(8, 3)) for _ in range(4)]
    x = torch.randn(4, 10, 2)
    stacked = StackedMLP(mlps)(x)
    for r, mlp in enumerate(mlps):
        assert torch.allclose(stacked[r], mlp(x[r]), atol=1e-6)


# all models in one chunk; one model per chunk; one model's 192 points in two pieces (BatchedTrainer._step_in_pieces)
@pytest.mark.parametrize("chunk_points", [16_384, 200, 100])
def test_a_batched_model_follows_the_same_model_trained_alone(chunk_points, monkeypatch):
    monkeypatch.setattr(batched_module, "CHUNK_POINTS", chunk_points)
    config = RunConfig(sample_size=200, nr=2.0, steps=150, batch_size=64, grid=64)
    batched = BatchedTrainer([Trainer(config.model_copy(update={"seed": seed})) for seed in range(3)])
    batched.step(150)
    result = batched.evaluate()
    alone = Trainer(config.model_copy(update={"seed": 2}))
    alone.step(150)
    frame = alone.frame(with_grad=False)
    assert float(result["log_z_est"][2]) == pytest.approx(frame["log_z_est"], abs=1e-4)
    assert float(result["log_z_true"][2]) == pytest.approx(frame["log_z_true"], abs=1e-4)
    assert float(result["kl"][2]) == pytest.approx(frame["kl"], rel=1e-3, abs=1e-6)
    head = batched.network.weights[-1][2].T  # (1, hidden) as nn.Linear stores it
    assert torch.allclose(head, alone.model.head.weight, atol=1e-4)
    # and the models are different models
    assert float(result["kl"][0]) != pytest.approx(float(result["kl"][2]), rel=1e-3)


def test_batched_trainer_refuses_mixed_configs():
    with pytest.raises(ValueError, match="may differ only in their seed"):
        BatchedTrainer([Trainer(RunConfig(sample_size=100, nr=1)), Trainer(RunConfig(sample_size=100, nr=2))])
    with pytest.raises(ValueError, match="fixed sample"):
        BatchedTrainer([Trainer(RunConfig())])
