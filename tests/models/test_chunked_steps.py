"""NCE's, InfoNCE's and CPC's step in chunks (models/chunked_steps.py) against autograd of the fused loss
(one forward over every point, or all B × B scores), and what the Trainer does with them: the chunked path
for big steps, the fused one for small, a stop mid-step that leaves the trainer as it was, and the
divergence check."""
import threading

import pytest
import torch

from models import chunked_steps
from models.chunked_mle import raise_when
from models.chunked_steps import (accumulate_cpc_gradient, accumulate_infonce_gradient, accumulate_nce_gradient,
                                  chunk_points, cpc_loss_in_rows)
from models.config import RunConfig
from models.cpc import PairCritic
from models.densities import Gaussian
from models.energy import build_energy
from models.objectives import cpc_loss, infonce_loss, nce_loss
from models.trainer import Stopped, Trainer


def _model(dim: int, learn_log_z: bool, seed: int = 0, spread: float = 3.0):
    """A small float64 MLP whose G spans several nats over the points (spread scales its head)."""
    torch.manual_seed(seed)
    model = build_energy("mlp", dim, hidden=12, depth=2, learn_log_z=learn_log_z, method="nce").double()
    with torch.no_grad():
        model.head.weight.mul_(spread)
        model.log_z_est.fill_(0.7 if learn_log_z else 0.0)
    return model


def _grads(model) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def _assert_same(chunked, fused, rtol):
    assert [a is None for a in chunked] == [b is None for b in fused]
    assert sum(b is not None and float(b.abs().max()) > 0 for b in fused) >= 4  # a non-trivial comparison
    largest = max(float(b.abs().max()) for b in fused if b is not None)  # a gradient that is ~0 in both: to it
    for a, b in zip(chunked, fused):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=1e-12 * largest)


def _points(n: int, dim: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


NOISE = Gaussian(torch.zeros(2), 4.0 * torch.eye(2))


def _log_q(x: torch.Tensor) -> torch.Tensor:
    return NOISE.log_prob(x)


@pytest.mark.parametrize("learn_log_z", [True, False])
@pytest.mark.parametrize("nr", [0.3, 7.0])
def test_the_chunked_nce_loss_and_gradient_equal_the_fused_ones(learn_log_z, nr):
    model = _model(2, learn_log_z)
    x_data, x_noise = _points(50, 2, 1), _points(353, 2, 2, scale=2.0)
    model.zero_grad(set_to_none=True)
    g = model(torch.cat([x_data, x_noise]))
    log_q = _log_q(torch.cat([x_data, x_noise]))
    fused_loss = nce_loss(g[:50], g[50:], log_q[:50], log_q[50:], model.log_z_est, nr)
    fused_loss.backward()
    fused = _grads(model)

    model.zero_grad(set_to_none=True)
    chunked_loss = accumulate_nce_gradient(model, x_data, x_noise.split(37), 353, _log_q, nr, chunk=16,
                                           between_chunks=lambda: None)  # 16 and 37 divide neither 50 nor 353
    assert not chunked_loss.requires_grad
    assert float(chunked_loss) == pytest.approx(float(fused_loss.detach()), rel=1e-12)
    _assert_same(_grads(model), fused, rtol=1e-10)
    assert (model.log_z_est.grad is not None) == learn_log_z


@pytest.mark.parametrize("k", [1, 9])
def test_the_chunked_infonce_loss_and_gradient_equal_the_fused_ones(k):
    model = _model(2, learn_log_z=True)
    batch = 23
    x_data, x_noise = _points(batch, 2, 3), _points(batch * k, 2, 4, scale=2.0)
    model.zero_grad(set_to_none=True)
    scores = model(torch.cat([x_data, x_noise])) - _log_q(torch.cat([x_data, x_noise]))
    fused_loss = infonce_loss(scores[:batch], scores[batch:].reshape(batch, k))
    fused_loss.backward()
    fused = _grads(model)

    model.zero_grad(set_to_none=True)
    rows = 4  # 23 rows: 5 chunks of 4 and one of 3
    chunks = [(x_data[s:s + rows], x_noise[s * k:(s + rows) * k]) for s in range(0, batch, rows)]
    chunked_loss = accumulate_infonce_gradient(model, chunks, batch, _log_q, lambda: None)
    assert float(chunked_loss) == pytest.approx(float(fused_loss.detach()), rel=1e-12)
    _assert_same(_grads(model), fused, rtol=1e-10)
    assert model.log_z_est.grad is None  # InfoNCE's loss does not see log Ẑ, fused or chunked


def test_between_chunks_runs_between_chunks_and_an_abandoned_sum_leaves_grad_alone():
    model = _model(2, learn_log_z=True)
    x_data, x_noise = _points(20, 2, 5), _points(100, 2, 6)
    calls = []
    accumulate_nce_gradient(model, x_data, x_noise.split(25), 100, _log_q, 2.0, 10, lambda: calls.append(1))
    assert len(calls) == 2 + 4 - 1  # 2 data chunks and 4 noise chunks
    model.zero_grad(set_to_none=True)

    def abandon_at_third():
        calls.append(1)
        if len(calls) >= 8:
            raise Stopped()

    with pytest.raises(Stopped):
        accumulate_nce_gradient(model, x_data, x_noise.split(25), 100, _log_q, 2.0, 10, abandon_at_third)
    with pytest.raises(Stopped):
        accumulate_infonce_gradient(model, [(x_data[:5], x_noise[:5]), (x_data[5:], x_noise[5:20])], 20, _log_q,
                                    raise_when(lambda: True, Stopped))
    assert all(p.grad is None for p in model.parameters())


def test_chunk_points_scale_with_the_model_and_keep_every_default_step_fused():
    assert chunk_points("mlp", 256, 4) == 4_096
    assert chunk_points("mlp", 64, 2) == chunked_steps.MAX_CHUNK_POINTS == 16_384
    assert chunk_points("gaussian", 256, 4) == chunked_steps.MAX_CHUNK_POINTS
    defaults = RunConfig()
    for method in ("nce", "infonce"):
        config = defaults.model_copy(update={"method": method})
        assert config.batch_size + Trainer.negatives_for(config) <= chunk_points("mlp", config.hidden, config.depth)


def _evaluations(trainer: Trainer) -> list[int]:
    sizes = []
    trainer.model.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    return sizes


def _trainer_step_gradient(trainer: Trainer) -> tuple[float, list]:
    trainer.optimizer.zero_grad(set_to_none=True)
    loss = trainer._loss()
    if loss.requires_grad:
        loss.backward()
    return float(loss.detach()), _grads(trainer.model)


# fixed samples: the chunked path gathers the very negatives the fused one takes, so the two agree
@pytest.mark.parametrize("knobs,evaluated", [
    ({"method": "nce", "nr": 5.0}, [64] + [100] * 3 + [20]),  # 320 negatives in chunks of 100
    ({"method": "infonce", "k": 9}, [100] * 6 + [40]),        # rows of 1 + 9 points, 10 rows a chunk
])
def test_the_trainer_chunks_a_big_step_with_the_fused_steps_loss_and_gradient(knobs, evaluated, monkeypatch):
    config = RunConfig(data="two_moons", hidden=16, depth=2, batch_size=64, sample_size=200, **knobs)
    fused_loss, fused = _trainer_step_gradient(Trainer(config))
    monkeypatch.setattr(chunked_steps, "MAX_CHUNK_POINTS", 100)
    monkeypatch.setattr(chunked_steps, "MIN_CHUNK_POINTS", 100)
    trainer = Trainer(config)
    sizes = _evaluations(trainer)
    chunked_loss, chunked = _trainer_step_gradient(trainer)
    assert sizes == evaluated
    assert chunked_loss == pytest.approx(fused_loss, rel=1e-6)
    for a, b in zip(chunked, fused):  # float32 models: the sums round differently
        assert (a is None) == (b is None)
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("method", ["nce", "infonce"])
def test_a_chunked_step_with_fresh_noise_trains(method, monkeypatch):
    monkeypatch.setattr(chunked_steps, "MAX_CHUNK_POINTS", 300)
    monkeypatch.setattr(chunked_steps, "MIN_CHUNK_POINTS", 300)
    trainer = Trainer(RunConfig(method=method, data="bimodal", hidden=16, depth=2, batch_size=128, nr=10, k=16,
                                steps=300, seed=1))
    sizes = _evaluations(trainer)
    first = trainer.frame(with_grad=False)["kl"]
    assert trainer.step(300) == 300 and trainer.state == "done"
    assert max(sizes[:20]) <= 300 < trainer.config.batch_size + trainer.negatives_per_step()
    assert trainer.frame(with_grad=False)["kl"] < 0.25 * first  # it learns as the fused step does


def _stop_after(k: int):
    looks = []

    def stop() -> bool:
        looks.append(1)
        return len(looks) >= k
    return stop, looks


@pytest.mark.parametrize("method", ["nce", "infonce"])
def test_a_stop_mid_step_leaves_parameters_optimizer_and_count_as_they_were(method, monkeypatch):
    monkeypatch.setattr(chunked_steps, "MAX_CHUNK_POINTS", 200)
    monkeypatch.setattr(chunked_steps, "MIN_CHUNK_POINTS", 200)
    trainer = Trainer(RunConfig(method=method, data="two_moons", hidden=16, depth=2, batch_size=64, nr=20, k=20))
    assert trainer.step(3) == 3  # the optimizer has state to keep
    params = [p.detach().clone() for p in trainer.model.parameters()]
    state = {id(p): {k: v.clone() for k, v in s.items()} for p, s in trainer.optimizer.state.items()}
    sizes = _evaluations(trainer)
    trainer.stop, looks = _stop_after(3)
    with pytest.raises(Stopped):
        trainer.step(1)
    assert len(looks) == 3 and len(sizes) == 3  # three chunks ran, the third look said stop
    assert trainer.step_count == 3 and trainer.state == "ok"
    assert all(torch.equal(a, p) for a, p in zip(params, trainer.model.parameters()))
    for p, s in trainer.optimizer.state.items():
        assert all(torch.equal(v, state[id(p)][k]) for k, v in s.items())


@pytest.mark.parametrize("method", ["nce", "infonce"])
def test_a_non_finite_model_on_the_chunked_path_diverges_without_an_exception(method, monkeypatch):
    monkeypatch.setattr(chunked_steps, "MAX_CHUNK_POINTS", 200)
    monkeypatch.setattr(chunked_steps, "MIN_CHUNK_POINTS", 200)
    trainer = Trainer(RunConfig(method=method, data="bimodal", hidden=16, depth=2, batch_size=64, nr=20, k=20))
    assert trainer.step(2) == 2
    with torch.no_grad():
        trainer.model.head.weight.fill_(float("nan"))
    assert trainer.step(5) == 0 and trainer.state == "diverged" and trainer.step_count == 2
    assert "loss became nan" in trainer.message


def test_the_issues_infonce_step_stops_once_its_flag_is_set_at_the_real_chunk_size():
    """Issue 17's message: InfoNCE, batch 4,096 × k 1,024 = 4,194,304 negatives at hidden 256, depth 4. The
    flag is set from another thread after the second chunk; the step raises Stopped within a chunk or two."""
    trainer = Trainer(RunConfig(method="infonce", data="rings", batch_size=4096, k=1024, hidden=256, depth=4))
    flag, outcome, chunks = threading.Event(), [], []

    def seen(module, args, out):
        chunks.append(args[0].shape[0])
        if len(chunks) == 2:
            flag.set()

    trainer.model.register_forward_hook(seen)
    trainer.stop = flag.is_set
    thread = threading.Thread(target=lambda: _step_or_stop(trainer, outcome))
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the step never ended"
    assert outcome == ["stopped"] and len(chunks) == 2
    assert chunks[0] == 3 * 1025 <= chunk_points("mlp", 256, 4)  # whole rows of 1 + k points: 3 a chunk


def _step_or_stop(trainer: Trainer, outcome: list) -> None:
    try:
        outcome.append(trainer.step(1))
    except Stopped:
        outcome.append("stopped")


def test_the_chunked_cpc_loss_and_gradient_equal_the_fused_ones():
    torch.manual_seed(0)
    critic = PairCritic(hidden=12, depth=2).double()
    pairs = _points(37, 2, 7)
    x, y = pairs[:, :1], pairs[:, 1:]
    critic.zero_grad(set_to_none=True)
    fused_loss = cpc_loss(critic.scores(x, y))
    fused_loss.backward()
    fused = _grads(critic)
    critic.zero_grad(set_to_none=True)
    calls = []
    chunked_loss = accumulate_cpc_gradient(critic.embed_x, critic.embed_y, x, y, 5, lambda: calls.append(1))
    assert len(calls) == 7  # 37 rows: 8 chunks of 5 (the last of 2)
    assert float(chunked_loss) == pytest.approx(float(fused_loss.detach()), rel=1e-12)
    _assert_same(_grads(critic), fused, rtol=1e-10)
    assert cpc_loss_in_rows(critic.embed_x, critic.embed_y, x, y, 5) == pytest.approx(float(fused_loss.detach()),
                                                                                      rel=1e-12)
    critic.zero_grad(set_to_none=True)
    with pytest.raises(Stopped):
        accumulate_cpc_gradient(critic.embed_x, critic.embed_y, x, y, 5, raise_when(lambda: True, Stopped))
    assert all(p.grad is None for p in critic.parameters())


def test_a_cpc_step_over_the_chunk_bound_runs_in_rows_and_stops_between_them(monkeypatch):
    monkeypatch.setattr(chunked_steps, "CPC_CHUNK_SCORES", 64 * 16)  # batch 64: 4 chunks of 16 rows
    trainer = Trainer(RunConfig(method="cpc", batch_size=64, hidden=16, depth=2, mi=2.0, steps=400))
    assert trainer.step(400) == 400 and trainer.state == "done"
    frame = trainer.frame(with_grad=False)
    assert 1.0 < frame["mi_estimate"] < frame["mi_cap"]  # it learned (true MI 2 nats, cap log 64)
    params = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.apply({"steps": 500})
    trainer.stop, looks = _stop_after(2)
    with pytest.raises(Stopped):
        trainer.step(1)
    assert len(looks) == 2 and trainer.step_count == 400
    assert all(torch.equal(a, p) for a, p in zip(params, trainer.model.parameters()))
