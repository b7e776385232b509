"""Property-based fuzzing: whatever a client sends, the server answers with `config` or `error` (or
a 4xx), keeps the socket open, and logs no exception (the autouse guard in conftest.py)."""
from __future__ import annotations

import json
import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.config import knob_schema

KNOBS = knob_schema()
# valid values stay small where size costs CPU, so the fuzzed runs train quickly
CHEAP_MAX = {"grid": 48, "hidden": 32, "depth": 2, "batch_size": 128, "k": 32, "steps": 2000, "nr": 100.0}
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                 st.text(max_size=20), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                          st.integers(), max_size=2))


def valid_values(spec: dict):
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    low = spec.get("minimum", spec.get("exclusiveMinimum", 0))
    kind = spec.get("type")
    if kind == "integer":
        return st.integers(low, spec["maximum"])
    if kind == "number":
        return st.floats(low, spec["maximum"], exclude_min="exclusiveMinimum" in spec)
    if kind == "boolean":
        return st.booleans()
    return st.text(max_size=30)


def knob_values(name: str, spec: dict):
    if name == "data_file":
        return st.sampled_from([None, UPLOAD])  # a path is refused: test_socket checks that
    return valid_values({**spec, "maximum": CHEAP_MAX[name]} if name in CHEAP_MAX else spec)


UPLOAD = "<the test's upload handle>"
valid_configs = st.fixed_dictionaries({}, optional={name: knob_values(name, spec) for name, spec in KNOBS.items()})
spoiled_configs = st.tuples(valid_configs, st.sampled_from([*KNOBS, "bogus_knob"]), junk).map(
    lambda t: {**t[0], t[1]: t[2]})  # one knob of a valid config gets any JSON value
configs = st.one_of(valid_configs, spoiled_configs)


def known_field_in(message: str) -> bool:
    return any(name in message for name in KNOBS) or "config" in message or "start first" in message


def test_fuzzed_start_and_set_configs_are_answered_and_the_socket_survives(make_server, client_for):
    live_server = make_server(message_rate=10_000)  # messages as fast as answered: the rate is not under test
    client = client_for(live_server)
    handle = httpx.post(f"{live_server}/api/upload", content="\n".join(str(i % 11) for i in range(40))).json()["handle"]

    @FUZZ
    @given(kind=st.sampled_from(["start", "set"]), config=configs)
    def check(kind, config):
        if config.get("data_file") == UPLOAD:
            config["data_file"] = handle
        client.send({"type": kind, "config": config})
        reply = client.wait_for(lambda m: m["type"] in ("config", "error"), 30, f"an answer to {kind}")
        if reply["type"] == "config":
            assert set(reply["config"]) == set(KNOBS)
            for name, value in config.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                assert reply["config"][name] == value or abs(reply["config"][name] - value) < 1e-9
        else:
            assert known_field_in(reply["message"]), reply["message"]
        client.send({"type": "ping"})
        client.wait_type("pong", 30)

    check()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4), max_leaves=12)
typed_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "set", "step", "pause", "resume", "reset", "ping", "Start", "", "frame"])},
    optional={"config": json_values, "n": json_values, "extra": json_values})
raw_messages = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    typed_messages.map(json.dumps),
    st.text(alphabet=string.printable, max_size=50).map(lambda s: '{"type": "set", "config": ' + s + "}"),
)


def test_fuzzed_raw_messages_never_drop_the_socket(make_server, client_for):
    client = client_for(make_server(message_rate=10_000))  # messages as fast as answered: the rate is not under test
    client.start({"steps": 2000, "grid": 32, "batch_size": 64})

    @FUZZ
    @given(text=raw_messages)
    def check(text):
        client.send(text)
        client.send({"type": "ping"})
        client.wait_type("pong", 30)  # raises if the socket closed meanwhile
        assert all(m["type"] in ("config", "status", "frame", "error", "pong") for m in client.seen[-50:])

    check()


@FUZZ
@given(body=st.binary(max_size=3000), content_type=st.sampled_from(
    ["text/csv", "text/plain", "application/json", "multipart/form-data", "multipart/form-data; boundary=x",
     "application/octet-stream", ""]))
def check_upload(server, body, content_type):
    response = httpx.post(f"{server}/api/upload", content=body, headers={"content-type": content_type})
    assert response.status_code in (200, 413, 422), (response.status_code, response.text)


def test_fuzzed_uploads_are_answered_with_200_413_or_422(make_server):
    check_upload(make_server(max_upload_bytes=2000))


segments = st.text(alphabet=string.ascii_letters + string.digits + "._-%~/\\", min_size=0, max_size=30)


def test_fuzzed_paths_are_never_a_5xx(live_server):
    @FUZZ
    @given(prefix=st.sampled_from(["/static/", "/api/", "/vendor/", "/"]), tail=segments)
    def check(prefix, tail):
        response = httpx.get(f"{live_server}{prefix}{tail}")
        assert response.status_code < 500, (prefix + tail, response.status_code)

    check()
