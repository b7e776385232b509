"""The training socket, through a real uvicorn and a real WebSocket client: cadence, live changes,
pause/step/reset, the end of a run, bad messages, custom data, divergence."""
from __future__ import annotations

import json
import math
import time

import httpx
import pytest

from .conftest import FAST


def frame(message: dict) -> bool:
    return message["type"] == "frame"


def paused_frame(client) -> dict:
    """After pause, step or reset: the status, then the frame of the new (paused) state."""
    client.wait_type("status", state="paused")
    return client.wait_for(lambda m: frame(m) and m["state"] == "paused", 10, "the frame of the paused state")


def test_frames_keep_coming_no_faster_than_the_frame_rate_with_the_config_rev(live_server, client_for):
    client = client_for(live_server)
    sent_start = time.monotonic()  # no frame of this run can exist before this moment
    reply = client.start({"steps": 100_000})
    assert reply["config_rev"] == 1 and reply["rebuilt"] is True
    for _ in range(12):  # the frames keep coming while it runs (each within 5 s, however busy the machine)
        message = client.wait_for(frame, 5, "frame")
        assert message["config_rev"] == 1 and message["state"] in ("paused", "running")
    received = sum(1 for m in client.seen if frame(m))
    # the cadence is a ceiling, not a promise: a slow machine may send fewer, never more. Counting from the
    # moment `start` was sent, a late delivery can only lower the count. (+2: the start's own frame, jitter)
    frame_rate = live_server.settings.frame_rate
    elapsed = time.monotonic() - sent_start
    assert received <= frame_rate * elapsed + 2, f"{received} frames in {elapsed:.2f} s at frame_rate {frame_rate}"


def test_a_frame_carries_the_scalars_and_arrays_of_the_protocol(live_server, client_for):
    client = client_for(live_server)
    client.start(FAST)
    first = client.wait_for(frame, 10, "frame")
    for key in ("step", "total_steps", "loss", "log_z_est", "log_z_true", "kl", "grad_cos", "grad_norm_ratio",
                "mi_estimate", "mi_true", "mi_cap", "steps_per_s", "lr", "state", "dim", "device",
                "negatives_per_step", "noise_coverage", "p_d", "config_rev"):
        assert key in first, key
    assert first["total_steps"] == FAST["steps"] and first["dim"] == 1
    grid = first["grid"]
    assert {"axes", "log_pd", "log_q", "log_p", "log_p_self", "weight", "posterior"} <= grid.keys()
    assert len(grid["axes"]) == 1 and len(grid["log_p"]) == FAST["grid"]
    assert set(first["points"]) == {"data", "noise"}
    # the static parts come once, after a change; the model's arrays every frame
    later = client.wait_for(lambda m: frame(m) and "grid" in m and m["step"] > first["step"], 10, "a later frame")
    assert not {"axes", "log_pd", "log_q"} & later["grid"].keys()
    assert "log_p" in later["grid"]
    grad = client.wait_for(lambda m: frame(m) and "grad" in m, 10, "a frame with the gradient comparison")["grad"]
    assert len(grad["nr"]) == len(grad["cos"]) == len(grad["norm_ratio"]) and grad["nr_current"] == 10


def test_floats_are_rounded_to_four_significant_digits(live_server, client_for):
    client = client_for(live_server)
    client.start(FAST)
    message = client.wait_for(lambda m: frame(m) and "grid" in m, 10, "frame with arrays")

    def floats(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from floats(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from floats(item)

    values = [v for v in floats(message) if v != 0]
    assert len(values) > 100
    assert all(float(f"{v:.4g}") == v for v in values)


def test_set_raises_the_config_rev_and_the_next_frames_carry_it(live_server, client_for):
    client = client_for(live_server)
    client.start({"steps": 100_000})
    client.wait_type("frame")
    client.send({"type": "set", "config": {"nr": 50}})
    reply = client.wait_type("config")
    assert reply["config_rev"] == 2 and reply["config"]["nr"] == 50
    assert reply["rebuilt"] is False and reply["changed"] == ["nr"]
    message = client.wait_for(frame, 5, "frame")
    assert message["config_rev"] == 2, "the first frame after the config reply must carry its rev"
    assert client.wait_for(frame, 5, "frame")["config_rev"] == 2
    grad = client.wait_for(lambda m: frame(m) and "grad" in m and m["grad"]["nr_current"] == 50, 5,
                           "the gradient comparison at the new nr")
    assert grad["config_rev"] == 2


def test_a_rebuild_is_announced_and_starts_from_step_zero(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "steps": 100_000})
    client.wait_for(lambda m: frame(m) and m["step"] > 20, 10, "some training")
    client.send({"type": "set", "config": {"data": "eight_gaussians", "grid": 64}})
    reply = client.wait_type("config")
    assert reply["rebuilt"] is True and {"data", "grid"} <= set(reply["changed"])
    message = client.wait_for(lambda m: frame(m) and m["config_rev"] == reply["config_rev"], 10, "new frame")
    assert message["dim"] == 2 and message["step"] < 50
    grid = message["grid"]  # the first frame after a rebuild has the new layout, at most 48x48
    assert len(grid["axes"]) == 2 and len(grid["axes"][0]) == 48
    assert len(grid["log_p"]) == 48 and len(grid["log_p"][0]) == 48 and len(grid["log_pd"]) == 48


def test_pause_stops_the_step_count_and_resume_continues(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "steps": 100_000})
    client.wait_for(lambda m: frame(m) and m["step"] > 0, 10, "training")
    client.send({"type": "pause"})
    paused_at = paused_frame(client)["step"]
    time.sleep(0.3)  # were it still training, the step below would land well past paused_at + 1
    client.send({"type": "step", "n": 1})
    after_step = client.wait_for(lambda m: frame(m) and m["step"] != paused_at, 5, "the frame after step 1")
    assert after_step["step"] == paused_at + 1 and after_step["state"] == "paused"
    client.send({"type": "resume"})
    client.wait_type("status", state="running")
    client.wait_for(lambda m: frame(m) and m["step"] > paused_at + 1, 5, "training again")


def test_a_paused_start_holds_at_step_zero(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "start", "config": {**FAST, "steps": 100_000}, "paused": True})
    client.wait_type("status", state="paused")
    assert client.wait_type("frame")["step"] == 0
    client.send({"type": "step", "n": 3})  # the next frame shows exactly the 3 steps: none ran before
    assert paused_frame(client)["step"] == 3
    client.send({"type": "start", "paused": "yes"})
    assert "paused: must be true or false" in client.wait_type("error")["message"]


def test_step_n_advances_exactly_n_then_pauses(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "steps": 100_000}, running=False)
    for n, expected in ((7, 7), (250, 257), (1, 258)):
        client.send({"type": "step", "n": n})
        assert paused_frame(client)["step"] == expected


def test_reset_returns_to_step_zero_paused(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "steps": 100_000})
    client.wait_for(lambda m: frame(m) and m["step"] > 10, 10, "training")
    client.send({"type": "reset"})
    message = paused_frame(client)
    assert message["step"] == 0 and message["loss"] is None


def test_a_run_to_its_steps_ends_done(live_server, client_for):
    client = client_for(live_server)
    client.start({**FAST, "steps": 60})
    client.wait_type("status", state="done", timeout=20)
    last = client.wait_for(frame, 5, "the final frame")
    assert last["step"] == 60 and last["state"] == "done"
    client.send({"type": "set", "config": {"steps": 80}})  # more steps: it trains on to the new end
    client.wait_type("status", state="running")
    client.wait_type("status", state="done", timeout=20)
    assert client.wait_for(frame, 5, "the final frame")["step"] == 80


@pytest.mark.parametrize("message, expected", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "jump"}', "type: must be one of"),
    ('{"type": "set", "nr": 5}', "unknown field 'nr' (knobs go inside 'config')"),
    ('{"type": "set", "config": {"nope": 1}}', "nope: unknown knob"),
    ('{"type": "set", "config": {"nr": 5000}}', "nr: Input should be less than or equal to 1000"),
    ('{"type": "set", "config": {"nr": "many"}}', "nr: must be a number (got 'many')"),
    ('{"type": "set", "config": {"method": "magic"}}', "method: Input should be"),
    ('{"type": "set", "config": {"batch_size": 2}}', "batch_size: Input should be greater than or equal to 8"),
    ('{"type": "set", "config": []}', "'config' must be an object"),
    ('{"type": "step", "n": 0}', "n: must be an integer from 1 to 10000"),
    ('{"type": "step", "n": 2.5}', "n: must be an integer"),
])
def test_bad_messages_get_an_error_naming_the_field_and_the_session_stays_usable(
        live_server, client_for, message, expected):
    client = client_for(live_server)
    client.start({**FAST, "nr": 10}, running=False)
    client.send(message)
    error = client.wait_type("error")
    assert expected in error["message"]
    client.send({"type": "set", "config": {"k": 4}})  # still usable, with its previous config
    reply = client.wait_type("config")
    assert reply["config"]["nr"] == 10 and reply["config"]["k"] == 4 and reply["config_rev"] == 2


def test_commands_before_start_are_errors(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "resume"})
    assert "send start first" in client.wait_type("error")["message"]
    client.send(b"\x00binary")
    assert "JSON text" in client.wait_type("error")["message"]
    client.start(FAST)


def test_a_path_in_data_file_is_refused(live_server, client_for):
    client = client_for(live_server)
    for config in ({"data": "custom", "data_file": "/etc/passwd"},
                   {"data": "custom", "data_file": "../pyproject.toml"},
                   {"data_file": "upload:../../etc/passwd"}):
        client.send({"type": "start", "config": config})
        assert "the web can read no file of the server's" in client.wait_type("error")["message"]
    client.send({"type": "start", "config": {"data": "custom", "data_file": "upload:" + "0" * 32}})
    assert "unknown upload handle" in client.wait_type("error")["message"]


def _csv(rows) -> str:
    return "x,y\n" + "\n".join(f"{x:.5g},{y:.5g}" for x, y in rows)


def test_custom_data_from_an_upload_trains(live_server, client_for):
    rows = [(math.cos(i * 0.7) * 2, math.sin(i * 0.7) + 0.1 * i % 1) for i in range(300)]
    upload = httpx.post(f"{live_server}/api/upload", content=_csv(rows), headers={"content-type": "text/csv"})
    assert upload.status_code == 200, upload.text
    info = upload.json()
    assert info["rows"] == 300 and info["dim"] == 2 and info["handle"].startswith("upload:")
    client = client_for(live_server)
    client.start({"data": "custom", "data_file": info["handle"], "steps": 30, "grid": 32, "batch_size": 32})
    message = client.wait_for(lambda m: frame(m) and "grid" in m, 20, "frame")
    assert message["dim"] == 2 and message["p_d"] == "kde"
    client.wait_type("status", state="done", timeout=30)
    # switching to another upload rebuilds with its samples
    other = httpx.post(f"{live_server}/api/upload", content="\n".join(str(i % 17) for i in range(50))).json()
    client.send({"type": "set", "config": {"data_file": other["handle"]}})
    reply = client.wait_type("config")
    assert reply["rebuilt"] and reply["config"]["data_file"] == other["handle"]
    assert client.wait_for(lambda m: frame(m) and m["config_rev"] == reply["config_rev"], 10, "frame")["dim"] == 1


def test_a_diverging_run_says_so_and_reset_recovers(live_server, client_for):
    # lr = 10 blows the loss up by over 1000x within a step or two (models/divergence.py, rule 2)
    client = client_for(live_server)
    client.start({"method": "mle", "lr": 10, "steps": 100})
    status = client.wait_type("status", state="diverged", timeout=20)
    assert "loss grew" in status["message"] and "lower lr (now 10; try 0.01)" in status["message"]
    assert "reset" in status["message"]
    client.wait_for(lambda m: frame(m) and m["state"] == "diverged", 5, "a frame of the diverged state")
    client.send({"type": "reset"})
    assert paused_frame(client)["step"] == 0
    client.send({"type": "set", "config": {"lr": 0.01}})
    client.wait_type("config")
    client.send({"type": "step", "n": 5})
    assert client.wait_for(lambda m: frame(m) and m["state"] == "paused" and m["step"] == 5, 10,
                           "the run recovered")["loss"] is not None


def test_cpc_frames_carry_the_critic(live_server, client_for):
    client = client_for(live_server)
    client.start({"method": "cpc", "steps": 50, "batch_size": 64})
    message = client.wait_for(lambda m: frame(m) and "grid" in m, 10, "frame")
    assert "critic" in message["grid"] and "grad" not in message
    assert message["mi_true"] == 1.0 and message["mi_cap"] == pytest.approx(math.log(64), abs=1e-3)
    client.wait_type("status", state="done", timeout=20)


def test_two_d_gradients_refresh_less_often_than_frames(live_server, client_for):
    client = client_for(live_server)
    client.start({"data": "eight_gaussians", "steps": 100_000, "batch_size": 64})
    client.wait_for(lambda m: frame(m) and "grad" in m, 15, "a first gradient comparison")
    frames = [client.wait_for(frame, 5, "frame") for _ in range(25)]
    with_grad = sum("grad" in m for m in frames)
    assert 1 <= with_grad <= 12, f"{with_grad} of 25 frames carried the comparison"
    assert all(m["grad_cos"] is not None for m in frames)  # the scalars ride in every frame
    sizes = [len(json.dumps(m)) for m in frames]
    assert max(sizes) < 150_000
