"""The METHODS registry: every method's counts, estimator and capabilities, checked against what a
Trainer of that method actually does (a capability that says the wrong thing fails here)."""
import math

import pytest
import torch

from models.config import ConfigError, RunConfig, parse_config
from models.fixed_sample import fixed_noise_count
from models.methods import MAX_NEGATIVES, METHODS, mi_estimate
from models.objectives import cpc_loss, infonce_loss
from models.trainer import Trainer

SMALL = dict(hidden=16, depth=2, batch_size=64, grid=32, steps=50)


def _trainer(method: str, **knobs) -> Trainer:
    return Trainer(RunConfig(method=method, **{**SMALL, **knobs}))


def _loss_with(trainer: Trainer, gen_state: torch.Tensor) -> float:
    """The loss of one step drawn from `gen_state` (the Trainer's generator is put back to it first)."""
    trainer.gen.set_state(gen_state)
    return float(trainer._loss().detach())


def test_the_config_accepts_exactly_the_registered_methods():
    assert set(METHODS) == {"mle", "nce", "infonce", "cpc"}
    for name in METHODS:
        assert parse_config({"method": name}).method == name
    with pytest.raises(ConfigError, match="method"):
        parse_config({"method": "nce2"})


def test_fixed_noise_counts_round_half_to_even_and_have_one_home():
    # the page's Math.round said 21 for T_d = 41, N_r = 0.5: the server draws 20
    assert METHODS["nce"].fixed_noise_count(41, 0.5, 16) == 20
    assert METHODS["nce"].fixed_noise_count(43, 0.5, 16) == 22
    assert METHODS["nce"].fixed_noise_count(16, 0.01, 16) == 1  # at least one noise point
    assert METHODS["infonce"].fixed_noise_count(40, 0.5, 3) == 120
    assert METHODS["mle"].fixed_noise_count(40, 10.0, 3) == 0 and METHODS["cpc"].fixed_noise_count(40, 10.0, 3) == 0
    for name, method in METHODS.items():  # fixed_sample's function is the registry's
        assert fixed_noise_count(name, 41, 0.5, 3) == method.fixed_noise_count(41, 0.5, 3)
    assert _trainer("nce", sample_size=41, nr=0.5).fixed_noise.shape[0] == 20


def test_negatives_per_step_are_the_methods_and_nce_is_capped():
    assert METHODS["nce"].negatives(RunConfig(nr=2.5, batch_size=10)) == 25
    assert METHODS["nce"].negatives(RunConfig(nr=0.1, batch_size=8)) == 1
    assert METHODS["nce"].negatives(RunConfig(nr=1000, batch_size=4096)) == MAX_NEGATIVES
    assert METHODS["infonce"].negatives(RunConfig(method="infonce", k=5, batch_size=12)) == 60
    for name in ("mle", "cpc"):
        assert METHODS[name].negatives(RunConfig(method=name)) == 0
        assert Trainer.negatives_for(RunConfig(method=name)) == 0


def test_the_mi_estimate_is_log_batch_minus_the_loss():
    assert mi_estimate(0.0, 256) == pytest.approx(math.log(256))
    assert mi_estimate(1.5, 8) == pytest.approx(math.log(8) - 1.5)
    losses = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert torch.allclose(mi_estimate(losses, 64), math.log(64) - losses)


def test_the_live_cpc_frame_averages_log_batch_minus_the_loss_over_four_fresh_batches():
    trainer = _trainer("cpc", batch_size=32)
    trainer.step(5)
    replay = torch.Generator().set_state(trainer.view_gen.get_state())
    expected = []
    with torch.no_grad():
        for _ in range(4):
            pairs = trainer.data.sample(32, replay).to(torch.float32)
            expected.append(math.log(32) - float(cpc_loss(trainer.shown.scores(pairs[:, :1], pairs[:, 1:]))))
    frame = trainer.frame(arrays=False, with_grad=False)
    assert frame["mi_estimate"] == pytest.approx(sum(expected) / 4, rel=1e-6)
    assert frame["mi_cap"] == pytest.approx(math.log(32))


def test_infonce_scores_subtract_log_q():
    """The fused InfoNCE loss, replayed by hand from the same draws: s = G − log q (without − log q the
    ranking is of G alone, and the model learns p_d / q instead of p_d)."""
    trainer = _trainer("infonce", k=4, batch_size=16)
    state = trainer.gen.get_state()
    replay = torch.Generator().set_state(state)
    x_data = trainer.data.sample(16, replay).to(torch.float32)
    x_noise = trainer.noise.sample(64, replay).to(torch.float32)
    with torch.no_grad():
        s_pos = trainer.model(x_data) - trainer.noise.log_prob(x_data)
        s_neg = trainer.model(x_noise) - trainer.noise.log_prob(x_noise)
        expected = float(infonce_loss(s_pos, s_neg.reshape(16, 4)))
    assert _loss_with(trainer, state) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_uses_nr_uses_k_and_integrates_log_z_say_whether_the_knob_changes_the_loss(name):
    trainer = _trainer(name)
    state = trainer.gen.get_state()
    base = _loss_with(trainer, state)
    for knob, value in (("nr", 3.0), ("k", 5)):
        trainer.apply({knob: value})
        moved = _loss_with(trainer, state) != base
        assert moved == getattr(METHODS[name], f"uses_{knob}"), knob
        trainer.apply({knob: RunConfig.model_fields[knob].default})
    trainer.apply({"grid": 48})  # a rebuild: the same seed gives the same model and the same draws
    assert (_loss_with(trainer, state) != base) == METHODS[name].integrates_log_z


@pytest.mark.parametrize("name", list(METHODS))
def test_capabilities_match_the_trainers_frames_and_steps(name):
    method = METHODS[name]
    trainer = _trainer(name)
    before = float(trainer.model.log_z_est.detach()) if method.has_density else None
    trainer.step(3)
    frame = trainer.frame(with_grad=True)
    assert (frame["kl"] is not None) == method.has_density
    assert (frame["mi_estimate"] is not None) == (not method.has_density)
    assert (frame["log_z_est"] is not None) == method.has_log_z_parameter
    assert ("grad" in frame) == method.has_gradient_comparison
    assert frame["negatives_per_step"] == method.negatives(trainer.config)
    if method.has_density:
        assert (float(trainer.model.log_z_est.detach()) != before) == method.learns_log_z
    assert method.uses_noise == (method.negatives(trainer.config) > 0)
    assert set(method.capabilities()) >= {"has_density", "learns_log_z", "uses_nr", "uses_k", "uses_noise",
                                          "has_gradient_comparison"}


def test_a_fixed_sample_over_the_limit_names_the_methods_own_knob():
    with pytest.raises(ConfigError, match="sample_size: with k = 1024"):
        parse_config({"method": "infonce", "k": 1024, "sample_size": 100_000})
    with pytest.raises(ConfigError, match="sample_size: with nr = 1000"):
        parse_config({"method": "nce", "nr": 1000, "sample_size": 100_000})
    assert parse_config({"method": "mle", "nr": 1000, "sample_size": 100_000}).sample_size == 100_000
