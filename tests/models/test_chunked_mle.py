"""MLE's log Z in chunks (models/chunked_mle.py) against autograd of the fused loss (mle_loss on one
forward over the grid), and the looks at `stop` it gives a heavy MLE step and the 2-D gradient frame."""
import threading

import pytest
import torch

from models import stopping
from models import trainer as trainer_module
from models.chunked_mle import accumulate_log_z_gradient, raise_when
from models.config import RunConfig
from models.energy import build_energy
from models.gradients import population_gradients
from models.grid import Grid
from models.objectives import mle_loss
from models.trainer import Stopped, Trainer


def _model(dim: int, spread: float, seed: int = 0):
    """A small float64 MLP; spread scales its head so G spans a few or many nats over the grid."""
    torch.manual_seed(seed)
    model = build_energy("mlp", dim, hidden=12, depth=2, learn_log_z=False, method="mle").double()
    with torch.no_grad():
        model.head.weight.mul_(spread)
    return model


def _grads(model) -> list[torch.Tensor]:
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def _assert_same(chunked, fused, rtol, atol_fraction):
    """Gradient by gradient, with atol a fraction of the largest entry; None (no gradient) on both sides alike."""
    assert [a is None for a in chunked] == [b is None for b in fused]
    assert any(b is not None and float(b.abs().max()) > 0 for b in fused)  # a non-trivial comparison
    for a, b in zip(chunked, fused):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol_fraction * float(b.abs().max()))


def _fused(model, x_data, grid):
    """Oracle: autograd through one forward over the data and every cell (the Trainer's small-grid path)."""
    model.zero_grad(set_to_none=True)
    loss = mle_loss(model(x_data), grid.log_integral(model(grid.points)))
    loss.backward()
    return float(loss.detach()), _grads(model)


def _chunked(model, x_data, grid, chunk, between_chunks=lambda: None):
    model.zero_grad(set_to_none=True)
    log_z = accumulate_log_z_gradient(model, grid, chunk, between_chunks)
    assert not log_z.requires_grad  # its gradient is already in .grad: backward adds the data's only
    loss = mle_loss(model(x_data), log_z)
    loss.backward()
    return float(loss.detach()), _grads(model)


@pytest.mark.parametrize("dim,n", [(1, 301), (2, 23)])
@pytest.mark.parametrize("spread", [1.0, 40.0])  # 40: G spans tens of nats, the running max moves between chunks
def test_chunked_gradient_and_loss_equal_the_fused_ones(dim, n, spread):
    model = _model(dim, spread)
    box = torch.tensor([[-3.0, 3.0]] * dim)
    grid = Grid(box, n, dtype=torch.float64)
    x_data = torch.randn(50, dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fused_loss, fused = _fused(model, x_data, grid)
    chunked_loss, chunked = _chunked(model, x_data, grid, chunk=37)  # 37 divides neither 301 nor 529
    assert chunked_loss == pytest.approx(fused_loss, rel=1e-12, abs=1e-12)
    _assert_same(chunked, fused, rtol=1e-10, atol_fraction=1e-12)


def test_the_running_max_rescales_what_was_summed_before_it():
    # G increases along the grid, so every chunk raises the running max: each rescale must be exact
    model = build_energy("gaussian", 1, 0, 0, False, "mle").double()
    with torch.no_grad():
        model.mu.fill_(2.5)
        model.log_precision.fill_(1.5)
    grid = Grid(torch.tensor([[-3.0, 3.0]]), 200, dtype=torch.float64)
    x_data = torch.linspace(-1.0, 2.0, 20, dtype=torch.float64).unsqueeze(1)
    fused_loss, fused = _fused(model, x_data, grid)
    chunked_loss, chunked = _chunked(model, x_data, grid, chunk=7)
    assert chunked_loss == pytest.approx(fused_loss, rel=1e-12)
    _assert_same(chunked, fused, rtol=1e-10, atol_fraction=1e-12)


def test_between_chunks_runs_between_chunks_and_an_abandoned_sum_leaves_grad_alone():
    model = _model(2, 1.0)
    grid = Grid(torch.tensor([[-3.0, 3.0], [-3.0, 3.0]]), 20, dtype=torch.float64)  # 400 cells: 8 chunks of 50
    calls = []
    _chunked(model, torch.zeros(4, 2, dtype=torch.float64), grid, 50, lambda: calls.append(1))
    assert len(calls) == 7

    def abandon_at_third():
        calls.append(1)
        if len(calls) == 3:
            raise Stopped()

    calls.clear()
    model.zero_grad(set_to_none=True)
    with pytest.raises(Stopped):
        accumulate_log_z_gradient(model, grid, 50, abandon_at_third)
    assert all(p.grad is None for p in model.parameters())


def _custom_trainer(dim=2, grid=40, rows=200, **knobs) -> Trainer:
    samples = torch.randn(rows, dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    config = RunConfig(method="mle", data="custom", data_file="upload:t", grid=grid, hidden=16, depth=2,
                       batch_size=64, **knobs)
    trainer = Trainer(config, samples=samples)
    trainer.mle_grid  # the KDE on the grid, before any stop flag is installed
    return trainer


def _trainer_gradient(trainer: Trainer) -> tuple[float, list[torch.Tensor]]:
    trainer.optimizer.zero_grad(set_to_none=True)
    loss = trainer._loss()
    loss.backward()
    return float(loss.detach()), _grads(trainer.model)


@pytest.mark.parametrize("make", [lambda: _custom_trainer(2, grid=40),
                                  lambda: Trainer(RunConfig(method="mle", grid=500, hidden=16, depth=2))],
                         ids=["2-D custom", "1-D preset"])
def test_the_trainer_takes_the_chunked_path_on_large_grids_with_the_same_gradient(make, monkeypatch):
    fused_loss, fused = _trainer_gradient(make())
    monkeypatch.setattr(stopping, "STOP_CHUNK_POINTS", 300)  # 1,600 and 500 cells are now "large"
    monkeypatch.setattr(stopping, "STOP_CHUNK_MLE_POINTS", 170)
    chunked_trainer = make()
    evaluated = []
    chunked_trainer.model.register_forward_hook(lambda module, args, out: evaluated.append(args[0].shape[0]))
    chunked_loss, chunked = _trainer_gradient(chunked_trainer)
    cells, batch = chunked_trainer.mle_grid.size, chunked_trainer.config.batch_size
    assert evaluated == [170] * (cells // 170) + [cells % 170] + [batch]  # the grid in chunks, then the data
    assert chunked_loss == pytest.approx(fused_loss, rel=1e-6)
    _assert_same(chunked, fused, rtol=1e-4, atol_fraction=1e-5)  # float32 models: the sums round differently


def _stop_after(k: int):
    """A stop callable that turns True on its k-th look, and the list of its looks."""
    looks = []

    def stop() -> bool:
        looks.append(1)
        return len(looks) >= k
    return stop, looks


def test_a_stop_mid_step_raises_and_leaves_the_trainer_as_before_the_step(monkeypatch):
    monkeypatch.setattr(stopping, "STOP_CHUNK_POINTS", 300)
    monkeypatch.setattr(stopping, "STOP_CHUNK_MLE_POINTS", 100)  # 1,600 cells: 16 chunks
    stopped, twin = _custom_trainer(), _custom_trainer()
    grid_chunks = []
    stopped.model.register_forward_hook(lambda module, args, out: grid_chunks.append(args[0].shape[0]))
    before = [p.detach().clone() for p in stopped.model.parameters()]
    stopped.stop, looks = _stop_after(4)
    with pytest.raises(Stopped):
        stopped.step(1)
    assert len(looks) == 4 and len(grid_chunks) == 4 < 16  # 4 chunks evaluated, then the 4th look said stop
    assert stopped.step_count == 0 and stopped.state == "ok"
    assert all(torch.equal(a, p) for a, p in zip(before, stopped.model.parameters()))
    # it steps again as if the abandoned step had never begun (but for the data batch it drew)
    stopped.stop = lambda: False
    twin._draw_data(twin.config.batch_size, twin.gen)
    assert stopped.step(2) == 2 and twin.step(2) == 2
    for a, b in zip(stopped.model.parameters(), twin.model.parameters()):
        assert torch.equal(a, b)


def test_a_trainer_on_a_512_grid_upload_stops_once_its_flag_is_set():
    """Issue 10's case at the real chunk size: a 2-D upload at grid 512 (262,144 cells), stop flag set
    from another thread while the step runs; the step raises Stopped before all its chunks ran."""
    trainer = _custom_trainer(grid=512, rows=100, steps=10)
    total = -(-trainer.mle_grid.size // trainer_module.STOP_CHUNK_MLE_POINTS)
    flag, outcome, chunks = threading.Event(), [], []

    def seen(module, args, out):
        if args[0].shape[0] == trainer_module.STOP_CHUNK_MLE_POINTS:
            chunks.append(1)
            if len(chunks) == 2:
                flag.set()  # as a closing socket would: from outside the step's own arithmetic

    trainer.model.register_forward_hook(seen)
    trainer.stop = flag.is_set

    def work():
        try:
            outcome.append(trainer.step(1))
        except Stopped:
            outcome.append("stopped")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the step never ended"
    assert outcome == ["stopped"]
    assert 2 <= len(chunks) < total == 64


def test_the_gradient_frame_looks_at_stop_inside_the_comparison():
    trainer = Trainer(RunConfig(data="two_moons", hidden=16, depth=2))
    trainer.view(trainer_module.GRAD_GRID_2D)  # its grid's KDE first
    trainer.stop, looks = _stop_after(3)  # 1: at the frame's start, 2: after the cotangents, 3: a layer
    with pytest.raises(Stopped):
        trainer.gradient_frame()
    assert len(looks) == 3


def test_population_gradients_with_a_callback_are_unchanged_and_it_runs_per_layer():
    trainer = Trainer(RunConfig(data="two_moons", hidden=16, depth=3))
    view = trainer.view(32)
    args = (trainer.model, view.grid.points64, view.grid.log_cell, view.log_pd, view.log_q, [0.5, 4.0],
            torch.float32)
    calls = []
    plain = population_gradients(*args)
    watched = population_gradients(*args, lambda: calls.append(1))
    assert all(torch.equal(a, b) for a, b in zip(plain, watched))
    assert len(calls) == 1 + 4  # after the cotangents, then before each of the 4 linear layers
    with pytest.raises(Stopped):
        population_gradients(*args, raise_when(lambda: True, Stopped))


def test_a_non_finite_model_on_the_chunked_path_diverges_without_an_exception(monkeypatch):
    monkeypatch.setattr(stopping, "STOP_CHUNK_POINTS", 300)
    monkeypatch.setattr(stopping, "STOP_CHUNK_MLE_POINTS", 100)
    trainer = _custom_trainer()
    assert trainer.step(2) == 2
    with torch.no_grad():
        trainer.model.head.weight.fill_(float("nan"))
    assert trainer.step(5) == 0 and trainer.state == "diverged" and trainer.step_count == 2
