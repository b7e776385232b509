"""server/render.py: the worker prepares every grid a frame reads, so a snapshot's frame never
re-evaluates p_d or q (a 2-D preset's p_d on a 128² grid cost ~40 ms a frame, ten times a second)."""
from models.config import RunConfig
from models.trainer import Trainer

from server import render


def test_a_prepared_snapshot_frames_without_evaluating_p_d_or_q(monkeypatch):
    trainer = Trainer(RunConfig(method="nce", data="rings", grid=96, hidden=8, depth=1, batch_size=32))
    trainer.step(2)
    render.prepare_views(trainer, 48)
    snapshot = trainer.snapshot()
    calls = []
    for density in (snapshot.data, snapshot.noise):
        original = density.log_prob
        monkeypatch.setattr(density, "log_prob", lambda x, original=original: calls.append(len(x)) or original(x))
    frame = snapshot.frame(resolution=render.frame_resolution(trainer, 48), with_grad=True)
    assert frame["kl"] is not None and frame["grad"]["cos_current"] is not None
    assert calls == [], f"p_d or q evaluated on {calls} points during a frame"
