"""`sample_size`: a fixed sample drawn once per seed, minibatches taken only from it, the noise
sample redrawn (reproducibly) when N_r, k or q change, and the same samples whatever came before."""
import pytest
import torch

from models.config import ConfigError, RunConfig, parse_config
from models.trainer import Trainer


def test_the_samples_depend_on_the_seed_only():
    first, again = Trainer(RunConfig(sample_size=300, nr=2)), Trainer(RunConfig(sample_size=300, nr=2))
    other = Trainer(RunConfig(sample_size=300, nr=2, seed=1))
    assert first.fixed_data.shape == (300, 1) and first.fixed_noise.shape == (600, 1)
    assert torch.equal(first.fixed_data, again.fixed_data) and torch.equal(first.fixed_noise, again.fixed_noise)
    assert not torch.equal(first.fixed_data, other.fixed_data)
    first.step(50)  # training does not move the samples
    assert torch.equal(first.fixed_data, again.fixed_data)


def test_every_minibatch_comes_from_the_fixed_sample():
    trainer = Trainer(RunConfig(sample_size=40, nr=0.5, batch_size=64))
    data_values = set(trainer.fixed_data.reshape(-1).tolist())
    noise_values = set(trainer.fixed_noise.reshape(-1).tolist())
    rows = trainer._fixed_rows(64, trainer.gen)
    assert set(trainer.fixed_data[rows].reshape(-1).tolist()) <= data_values
    assert set(trainer._draw_noise(rows, trainer.gen).reshape(-1).tolist()) <= noise_values
    assert trainer.fixed_noise.shape[0] == 20  # round(0.5 · 40)


def test_a_live_nr_change_redraws_the_noise_sample_reproducibly():
    trainer = Trainer(RunConfig(sample_size=200, nr=1))
    data_before = trainer.fixed_data.clone()
    trainer.step(20)
    trainer.apply({"nr": 3})
    fresh = Trainer(RunConfig(sample_size=200, nr=3))
    assert torch.equal(trainer.fixed_noise, fresh.fixed_noise) and trainer.step_count == 20  # live, not rebuilt
    assert torch.equal(trainer.fixed_data, data_before)
    trainer.apply({"noise": "laplace"})
    assert torch.equal(trainer.fixed_noise, Trainer(RunConfig(sample_size=200, nr=3, noise="laplace")).fixed_noise)
    trainer.apply({"sample_size": None})
    assert trainer.fixed_data is None and trainer.fixed_noise is None
    trainer.step(5)
    assert trainer.step_count == 25


def test_infonce_pairs_k_noise_points_with_each_data_point():
    trainer = Trainer(RunConfig(method="infonce", sample_size=50, k=4, batch_size=8))
    assert trainer.fixed_noise.shape == (200, 1)
    rows = torch.tensor([0, 7, 49], device=trainer.device)
    negatives = trainer._draw_noise(rows, trainer.gen)
    assert torch.equal(negatives, trainer.fixed_noise[[0, 1, 2, 3, 28, 29, 30, 31, 196, 197, 198, 199]])
    trainer.step(10)
    assert trainer.state == "ok" and trainer.frame(with_grad=False)["fixed_noise"] == 200


def test_too_many_noise_points_are_refused_by_name():
    with pytest.raises(ConfigError) as error:
        parse_config({"sample_size": 100_000, "nr": 100})
    assert "sample_size: with nr = 100 a fixed sample needs 10,000,000 noise points; the limit is 4,000,000" \
        in str(error.value)
    trainer = Trainer(RunConfig(sample_size=50_000))
    with pytest.raises(ConfigError):
        trainer.apply({"nr": 1000})  # refused live, and nothing changed
    assert trainer.config.nr == 10.0 and trainer.fixed_noise.shape[0] == 500_000
