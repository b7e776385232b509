"""Many sessions, and their ends: concurrency, cleanup on disconnect, refusals (1013, 4401, 4403),
session limits (4408), and clients that do not read."""
from __future__ import annotations

import gc
import socket
import time
import weakref

from urllib.parse import urlsplit

import pytest

from .conftest import FAST, raw_get, session_threads, wait_until


def frame(message: dict) -> bool:
    return message["type"] == "frame"


def test_twenty_sessions_at_once_all_receive_frames(live_server, client_for):
    clients = [client_for(live_server) for _ in range(20)]
    for client in clients:
        client.send({"type": "start", "config": {**FAST, "steps": 100_000}})
    for client in clients:
        client.wait_for(lambda m: frame(m) and m["step"] > 0, 60, "a frame of training")
    assert live_server.app.state.hub.active == 20
    for client in clients:  # and they keep coming for everyone
        first = client.wait_for(frame, 30, "frame")["step"]
        client.wait_for(lambda m: frame(m) and m["step"] > first, 30, "another frame")


def test_a_busy_session_does_not_starve_another(live_server, client_for):
    busy = client_for(live_server)
    busy.start({"data": "spirals", "method": "mle", "steps": 100_000})  # ~10 ms steps, 2-D frames
    quiet = client_for(live_server)
    quiet.start({**FAST, "steps": 100_000})
    quiet.wait_for(frame, 10, "frame")
    times = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        quiet.wait_for(frame, 5, "frame")
        times.append(time.monotonic())
    assert (len(times) - 1) / (times[-1] - times[0]) > 4


def test_disconnect_stops_the_work_and_frees_the_trainer(live_server, client_for):
    before = len(session_threads())
    clients = [client_for(live_server) for _ in range(3)]
    for client in clients:
        client.start({**FAST, "steps": 100_000})
        client.wait_for(lambda m: frame(m) and m["step"] > 0, 20, "training")
    hub = live_server.app.state.hub
    assert len(session_threads()) == before + 3
    trainers = [weakref.ref(session.runner.trainer) for session in hub.sessions]
    started = time.monotonic()
    for client in clients:
        client.close()
    wait_until(lambda: len(session_threads()) == before and hub.active == 0, 5, "the sessions to end")
    assert time.monotonic() - started < 1.5
    gc.collect()
    assert all(ref() is None for ref in trainers), "a Trainer outlived its socket"


def test_over_max_sessions_is_refused_with_1013(make_server, client_for):
    server = make_server(max_sessions=2)
    first, second = client_for(server), client_for(server)
    first.start(FAST)
    second.start(FAST)
    third = client_for(server)
    code, reason = third.close_code()
    assert code == 1013 and "busy" in reason and "2 sessions" in reason
    first.close()
    wait_until(lambda: server.app.state.hub.active == 1, 5, "the first session to end")
    client_for(server).start(FAST)  # room again


def test_token_is_required_on_the_socket(make_server, client_for):
    server = make_server(token="s3cret-16-chars!")
    for path in ("", "?token=wrong"):
        code, reason = client_for(server, path).close_code()
        assert code == 4401 and "token" in reason
    client_for(server, "?token=s3cret-16-chars!").start(FAST)
    client_for(server, additional_headers={"X-NCE-Token": "s3cret-16-chars!"}).start(FAST)


def test_a_socket_from_another_origin_is_refused(live_server, client_for):
    code, reason = client_for(live_server, origin="http://attacker.example").close_code()
    assert code == 4403 and "cross-origin" in reason
    same = live_server.url.replace("127.0.0.1", "127.0.0.1")
    client_for(live_server, origin=same).start(FAST)


def test_an_unknown_host_cannot_open_a_socket(live_server):
    upgrade = {"Host": "attacker.example", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    status, _body, _headers = raw_get(live_server, "/api/ws", upgrade)
    assert status == 403
    upgrade["Host"] = urlsplit(live_server.url).netloc
    assert raw_get(live_server, "/api/ws", upgrade)[0] == 101


@pytest.mark.parametrize("limits, reason", [({"max_steps": 50}, "50 training steps"),
                                             ({"max_session_seconds": 1.0}, "time limit of 1 s")])
def test_session_limits_close_it_with_4408(make_server, client_for, limits, reason):
    client = client_for(make_server(**limits))
    client.start({**FAST, "steps": 100_000})
    code, said = client.close_code(20)
    assert code == 4408 and reason in said
    if "max_steps" in limits:
        assert [m for m in client.seen if frame(m)][-1]["step"] == 50, "the last frame shows where it stopped"


def test_an_idle_session_is_closed_with_4408_and_ping_keeps_it(make_server, client_for):
    server = make_server(idle_timeout_s=1.0)
    idle, pinging = client_for(server), client_for(server)
    idle.start(FAST)
    pinging.start(FAST)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        pinging.send({"type": "ping"})
        pinging.wait_type("pong", 5)
        time.sleep(0.3)
    code, reason = idle.close_code(5)
    assert code == 4408 and "idle" in reason
    pinging.send({"type": "ping"})
    pinging.wait_type("pong", 5)


def test_a_client_that_does_not_read_never_holds_up_training(make_server, client_for):
    # ~1 MB/s of frames into small socket buffers: the server's sender blocks within a second
    server = make_server(frame_rate=30, max_bytes_per_s=50_000_000, send_buffer=16_384)
    sock = socket.create_connection(("127.0.0.1", urlsplit(server.url).port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    client = client_for(server, sock=sock, max_queue=1, close_timeout=0.2, compression=None)
    client.start({"grid": 512, "steps": 1_000_000, "batch_size": 64})  # 1-D frames of ~20 KB
    client.wait_for(frame, 10, "frame")
    session = next(iter(server.app.state.hub.sessions))
    samples, waiting = [], 0
    for _ in range(5):  # not reading now
        samples.append(session.runner.steps_total)
        time.sleep(0.4)
        assert len(session.outbox._replies) <= 2  # nothing piles up: frames wait in one slot
        waiting += session.outbox._frame_text is not None
    assert samples[-1] > samples[-2] > samples[1], f"training stalled: {samples}"
    assert waiting >= 2, "the sender never waited: the test did not block it"
    client.wait_for(lambda m: frame(m) and m["step"] > samples[1], 20, "newer frames when reading again")
