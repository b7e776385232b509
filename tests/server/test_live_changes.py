"""Live changes reach the page: a change of q resends q's log density, and a change of N_r refreshes
the gradient comparison even while paused (issue 19: each test was seen to fail on a mutant of
server/runner.py's LAYOUT_KNOBS / GRAD_KNOBS)."""
from __future__ import annotations

import math

import pytest

from models.config import RunConfig
from models.trainer import Trainer

from .conftest import FAST


def frame_of_rev(rev: int):
    return lambda m: m["type"] == "frame" and m["config_rev"] == rev


def test_a_live_noise_change_resends_log_q_of_the_new_q(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "noise_fit": False, "noise_loc": 0.5, "noise_scale": 1.0}, running=False)
    assert any("log_q" in m.get("grid", {}) for m in client.seen if m["type"] == "frame")  # the first q
    client.send({"type": "set", "config": {"noise_scale": 2.0}})  # the scale alone: each layout knob counts
    reply = client.wait_type("config")
    assert reply["rebuilt"] is False
    message = client.wait_for(lambda m: frame_of_rev(reply["config_rev"])(m) and "log_q" in m.get("grid", {}), 10,
                              "a frame of the new config with q's log density")
    (axis,) = message["grid"]["axes"]
    expected = [-0.5 * ((x - 0.5) / 2.0) ** 2 - math.log(2.0) - 0.5 * math.log(2 * math.pi) for x in axis]
    assert message["grid"]["log_q"] == pytest.approx(expected, rel=2e-3, abs=1e-3)  # 4 significant digits


def test_a_live_nr_change_refreshes_the_gradient_comparison_while_paused(live_server, client_for):
    client = client_for(live_server)
    client.start(FAST, running=False)
    first = client.wait_for(lambda m: m["type"] == "frame" and "grad" in m, 10, "the first gradient comparison")
    assert first["grad"]["nr_current"] == 10
    client.send({"type": "set", "config": {"nr": 100}})
    reply = client.wait_type("config")
    message = client.wait_for(lambda m: frame_of_rev(reply["config_rev"])(m) and "grad" in m, 10,
                              "a gradient comparison at the new nr")
    # the paused model is the seed's initial one: a Trainer of the same config computes the same comparison
    expected = Trainer(RunConfig(**{**FAST, "nr": 100})).gradient_frame()
    assert message["grad"]["nr_current"] == 100
    assert message["grad"]["cos_current"] == pytest.approx(expected["cos_current"], rel=1e-3, abs=1e-4)
    assert message["grad_cos"] == pytest.approx(expected["cos_current"], rel=1e-3, abs=1e-4)
    assert abs(expected["cos_current"] - first["grad"]["cos_current"]) > 1e-3  # the comparison did move
