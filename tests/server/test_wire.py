"""Units of the wire format and of the per-socket outbox (no server needed)."""
from __future__ import annotations

import json
import math
import time

import pytest

from server import wire
from server.messages import MAX_STEP_N, MessageError, parse_message
from server.outbox import MAX_PENDING_REPLIES, ByteBudget, Close, Outbox
from server.settings import Settings


def test_rounded_keeps_four_significant_digits_and_nulls_non_finite():
    value = {"a": 3.14159265, "b": [[-123456.7, 1.23456e-7], [math.nan, math.inf]], "c": 7, "d": "x", "e": None,
             "f": True, "g": -math.inf, "h": 0.0}
    assert wire.rounded(value) == {"a": 3.142, "b": [[-123500.0, 1.235e-7], [None, None]], "c": 7, "d": "x",
                                   "e": None, "f": True, "g": None, "h": 0.0}
    json.loads(wire.dumps(wire.rounded(value)))  # valid JSON: no NaN literals


RAW = {"step": 5, "loss": 1.23456789, "state": "ok", "message": None,
       "grid": {"axes": [[0.1, 0.2]], "log_pd": [-1.0, -2.0], "log_q": [-1.5, -1.5], "log_p": [-1.1, -2.2],
                "weight": [0.5, 0.25]},
       "points": {"data": [[0.3]], "noise": [[0.4]]}}


def shape(**kwargs):
    options = dict(config_rev=3, state="running", total_steps=100, with_static=False, with_arrays=True,
                   grad=None, grad_scalars=(0.99, 1.01))
    options.update(kwargs)
    return wire.shape_frame(RAW, **options)


def test_shape_frame_sends_static_parts_only_when_asked():
    frame = shape()
    assert frame["type"] == "frame" and frame["config_rev"] == 3 and frame["state"] == "running"
    assert frame["loss"] == 1.235 and frame["total_steps"] == 100 and frame["grad_cos"] == 0.99
    assert set(frame["grid"]) == {"log_p", "weight"} and "points" in frame and "grad" not in frame
    assert set(shape(with_static=True)["grid"]) == {"axes", "log_pd", "log_q", "log_p", "weight"}
    scalars = shape(with_arrays=False)
    assert "grid" not in scalars and "points" not in scalars and scalars["step"] == 5
    assert shape(grad={"cos": [1.0]})["grad"] == {"cos": [1.0]}


def test_an_unsent_frame_merges_into_the_newer_one():
    older = shape(with_static=True, grad={"cos": [0.5]})
    newer = shape(with_arrays=False)
    newer["step"] = 6
    merged = wire.merge_unsent(older, newer)
    assert merged["step"] == 6 and merged["grad"] == {"cos": [0.5]}
    assert set(merged["grid"]) == {"axes", "log_pd", "log_q", "log_p", "weight"}  # carried along
    assert "points" in merged


def test_a_new_layout_drops_the_older_arrays():
    older = shape()
    newer = dict(shape(with_static=True))
    newer["grid"] = {"axes": [[1.0]], "log_pd": [0.0], "log_q": [0.0], "critic": [[1.0]]}
    merged = wire.merge_unsent(older, newer)
    assert set(merged["grid"]) == {"axes", "log_pd", "log_q", "critic"}


def test_outbox_keeps_replies_in_order_and_only_the_newest_frame():
    woken = []
    box = Outbox(lambda: woken.append(1))
    box.put({"type": "config", "config_rev": 1})
    box.put_frame(shape(with_static=True))
    box.put({"type": "status", "state": "running"})
    box.put_frame(shape(with_arrays=False))
    items = box.take()
    assert [json.loads(item)["type"] for item in items] == ["config", "status", "frame"]
    assert "axes" in json.loads(items[-1])["grid"]  # the newest frame, with what the dropped one carried
    assert box.take() == [] and len(woken) == 4


def test_outbox_closes_a_client_that_never_reads_its_replies():
    box = Outbox(lambda: None)
    for i in range(MAX_PENDING_REPLIES + 5):
        box.put({"type": "error", "message": str(i)})
    items = box.take()
    assert len(items) == MAX_PENDING_REPLIES + 1 and isinstance(items[-1], Close)
    assert items[-1].code == 1008


def test_close_comes_after_what_was_queued():
    box = Outbox(lambda: None)
    box.put({"type": "status", "state": "done"})
    box.put_frame(shape())
    box.close(4408, "limit " * 40)
    items = box.take()
    assert isinstance(items[-1], Close) and len(items) == 3 and len(items[-1].reason.encode()) <= 123


def test_byte_budget_refills_at_its_rate():
    budget = ByteBudget(100_000)
    assert budget.allows(100_000) and not budget.allows(100_001)
    budget.spend(150_000)
    assert not budget.allows(1)
    time.sleep(0.6)
    assert budget.allows(5_000)


@pytest.mark.parametrize("text, kind", [
    ('{"type": "start"}', "start"), ('{"type": "start", "config": {"nr": 3}}', "start"),
    ('{"type": "set", "config": {}}', "set"), ('{"type": "pause"}', "pause"), ('{"type": "resume"}', "resume"),
    ('{"type": "reset"}', "reset"), ('{"type": "ping"}', "ping"), (f'{{"type": "step", "n": {MAX_STEP_N}}}', "step"),
])
def test_good_messages_parse(text, kind):
    assert parse_message(text).kind == kind


@pytest.mark.parametrize("text", [
    "", "null", "[]", '"start"', '{"type": 1}', '{"type": "set"}', '{"type": "step", "n": true}',
    '{"type": "step", "n": 10001}', '{"type": "pause", "now": 1}', "[" * 100_000, "{" + " " * 70_000 + "}",
])
def test_bad_messages_raise_a_message_error(text):
    with pytest.raises(MessageError):
        parse_message(text)


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("NCE_PORT", "9123")
    monkeypatch.setenv("NCE_TOKEN", "abc-16-characters")
    monkeypatch.setenv("NCE_MAX_SESSIONS", "3")
    settings = Settings()
    assert (settings.port, settings.token, settings.max_sessions, settings.host) == (9123, "abc-16-characters", 3, "127.0.0.1")
    assert settings.host_allowlist() >= {"127.0.0.1", "localhost"}
    assert Settings(host="0.0.0.0").host_allowlist() is None
    assert Settings(allowed_hosts=["Lab.example"]).host_allowlist() == {"lab.example"}


def test_an_error_message_is_cut_to_a_constant_and_says_how_much_was_left_out():
    short = wire.error_message("nr: too big")
    assert short == {"type": "error", "message": "nr: too big"}
    long = wire.error_message("x" * 100_000)["message"]
    kept = long.count("x")  # the note has none
    assert len(long) <= wire.MAX_ERROR_CHARS and kept > 1_000
    assert long == "x" * kept + f"... ({100_000 - kept:,} more characters)"


def test_unknown_knobs_share_one_problem_and_long_values_are_quoted_briefly():
    from models.config import MAX_PROBLEMS, ConfigError, parse_config
    with pytest.raises(ConfigError) as error:
        parse_config({**{f"knob{i}": i for i in range(5_000)}, "method": "m" * 10_000, "nr": 5000})
    problems = error.value.errors
    assert len(problems) == 3 and sum(map(len, problems)) < 1_000
    assert problems[0] == "method: Input should be 'mle', 'nce', 'infonce' or 'cpc' (got '" + "m" * 79 + \
        "... (10,002 characters))"
    assert problems[1] == "nr: Input should be less than or equal to 1000 (got 5000)"
    assert problems[2].startswith("knob0, knob1, knob2, knob3, knob4 and 4,995 more: 5,000 unknown knobs (known: method,")
    with pytest.raises(ConfigError) as error:
        parse_config({"nr": [1] * 10} | {name: "bad" for name in ("hidden", "depth", "k", "mi", "lr", "steps")})
    assert len(error.value.errors) <= MAX_PROBLEMS


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("", False), ("::", False),
                                            ("192.168.1.20", False), ("lab.example", False)])
def test_loopback_hosts_and_their_host_allowlist(host, loopback):
    from server.settings import is_loopback
    assert is_loopback(host) is loopback
    allowlist = Settings(host=host).host_allowlist()
    if loopback:  # a DNS-rebinding page's Host is refused even on 127.0.0.2
        assert {"localhost", "127.0.0.1", host.lower()} <= allowlist and "attacker.example" not in allowlist
    else:
        assert allowlist is None
