"""Issue 17, sockets: a per-socket message rate (MessageRate) that drops what is over it with one
`error`, closes a flood (1008) and leaves the other sessions their frames; a client that never reads
is dropped on time even with its send buffer full (NCE_SEND_TIMEOUT_S); knobs are typed strictly."""
from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from starlette.websockets import WebSocket, WebSocketState
from websockets.exceptions import ConnectionClosed

from server.messages import BURST_SECONDS, DROP, FLOOD, FLOOD_FACTOR, FLOOD_SECONDS, REFUSE, RUN, MessageRate
from server.outbox import ByteBudget, Outbox
from server.session import Session, abort_connection
from server.settings import Settings

from .conftest import FAST, run_coroutine, session_threads, wait_until

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _send_at(rate: MessageRate, clock: FakeClock, per_second: float, seconds: float) -> list[str]:
    """Verdicts for messages sent evenly at `per_second` for `seconds`."""
    verdicts, count = [], int(per_second * seconds)
    for _ in range(count):
        verdicts.append(rate.admit())
        clock.now += 1.0 / per_second
    return verdicts


# ---- the limiter alone (a fake clock: exact counts)

def test_a_burst_of_two_seconds_runs_then_the_rate():
    clock = FakeClock()
    rate = MessageRate(30, clock)
    burst = [rate.admit() for _ in range(int(30 * BURST_SECONDS) + 5)]  # all at one instant
    assert burst[:60] == [RUN] * 60 and burst[60:] == [REFUSE] + [DROP] * 4
    clock.now += 1.0  # a second's worth back, and the same episode: no second reply
    assert [rate.admit() for _ in range(31)] == [RUN] * 30 + [DROP]


def test_a_flood_gets_one_refusal_not_one_per_message():
    clock = FakeClock()
    verdicts = _send_at(MessageRate(30, clock), clock, 200, 10)  # under the flood limit: dropped, never closed
    assert verdicts.count(REFUSE) == 1 and FLOOD not in verdicts
    assert verdicts.count(RUN) == pytest.approx(60 + 30 * 10, abs=2)  # the burst, then the rate


def test_a_calm_client_gets_a_reply_for_its_next_burst():
    clock = FakeClock()
    rate = MessageRate(30, clock)
    assert [rate.admit() for _ in range(70)].count(REFUSE) == 1
    clock.now += 1.9  # not quite full again: still the same episode
    assert [rate.admit() for _ in range(70)].count(REFUSE) == 0
    clock.now += 2.0  # a full bucket: calm, so the next burst's drops are answered once
    assert [rate.admit() for _ in range(70)].count(REFUSE) == 1


@pytest.mark.parametrize("times_rate", [12, 100])
def test_over_ten_times_the_rate_for_three_seconds_is_a_flood(times_rate):
    clock = FakeClock()
    verdicts = _send_at(MessageRate(30, clock), clock, 30 * times_rate, 6)
    first = verdicts.index(FLOOD) / (30 * times_rate)  # seconds into the flood
    assert FLOOD_SECONDS - 1 < first <= FLOOD_SECONDS + 1
    assert FLOOD_FACTOR == 10


def test_nine_times_the_rate_or_bursts_with_rests_are_no_flood():
    clock = FakeClock()
    rate = MessageRate(30, clock)
    assert FLOOD not in _send_at(rate, clock, 270, 10)
    for _ in range(5):  # one second at 50x, then two quiet ones: never three flood seconds in a row
        assert FLOOD not in _send_at(rate, clock, 1500, 1)
        clock.now += 2.0


def test_a_flood_is_read_no_faster_than_it_takes_to_see_it():
    clock = FakeClock()
    rate = MessageRate(30, clock)
    read = 0
    while rate.pause() == 0.0:
        rate.admit()
        read += 1
    assert read == 2 * 10 * 30  # then the reader waits out the second: the rest stays in the client's socket
    assert 0.0 < rate.pause() <= 1.0


def test_the_pages_own_traffic_never_meets_the_default_limit():
    # a slider drag commits every THROTTLE_MS (frontend/js/widgets.js); a held S steps at most every
    # REPEAT_STEP_MS whatever the key repeat (frontend/js/keyboard.js); a ping every minute
    throttle_ms = int(re.search(r"THROTTLE_MS = (\d+)", (ROOT / "frontend/js/widgets.js").read_text()).group(1))
    repeat_ms = int(re.search(r"REPEAT_STEP_MS = (\d+)", (ROOT / "frontend/js/keyboard.js").read_text()).group(1))
    clock = FakeClock()
    rate = MessageRate(Settings().message_rate, clock)
    assert set(_send_at(rate, clock, 1000 / throttle_ms, 60)) == {RUN}, "a minute of dragging a slider"
    assert set(_send_at(rate, clock, 1000 / repeat_ms, 120)) == {RUN}, "two minutes of holding S"
    assert 1000 / throttle_ms * 3 <= Settings().message_rate, "a drag leaves room for three at once"


# ---- over a real socket

def _set_reply(message: dict) -> bool:
    return message["type"] in ("config", "error")


def test_messages_over_the_rate_are_dropped_with_one_error_naming_the_limit(make_server, client_for):
    server = make_server(message_rate=4)  # a burst of 8, the start among them
    client = client_for(server)
    client.start({**FAST, "steps": 100_000}, running=False)
    began = time.monotonic()
    for i in range(30):
        client.send({"type": "set", "config": {"nr": 1 + i}})
    sent_in = time.monotonic() - began
    reply = client.wait_type("error", 10)
    assert reply["message"].startswith("too many messages: this server runs 4 per second"), reply
    assert "NCE_MESSAGE_RATE" in reply["message"]
    time.sleep(0.5)  # two tokens back at 4/s (the bucket refills with time: nothing else to wait for)
    client.send({"type": "ping"})
    client.wait_type("pong", 10)
    configs = [m["config"]["nr"] for m in client.seen if m["type"] == "config"][1:]  # the sets' replies
    assert configs[:7] == [1, 2, 3, 4, 5, 6, 7], configs  # the burst ran, in order
    assert len(configs) <= 7 + 4 * sent_in + 1, f"{len(configs)} of 30 sets ran in {sent_in:.2f} s"
    errors = [m for m in client.seen if m["type"] == "error"]
    assert len(errors) == 1, f"one error for the {30 - len(configs)} dropped sets, not {len(errors)}"


def test_a_flood_is_closed_with_1008_and_its_session_ends(make_server, client_for):
    server = make_server(message_rate=5)  # a flood: over 50 messages/s for 3 s
    client = client_for(server)
    client.start(FAST, running=False)
    stop = threading.Event()

    def flood():
        try:
            while not stop.is_set():
                client.send('{"type":"ping"}')
        except (ConnectionClosed, OSError):
            pass

    flooder = threading.Thread(target=flood, daemon=True)
    began = time.monotonic()
    flooder.start()
    try:
        code, reason = client.close_code(15)
    finally:
        stop.set()
        flooder.join(5)
    assert code == 1008 and "flood" in reason and "NCE_MESSAGE_RATE is 5/s" in reason
    assert time.monotonic() - began < FLOOD_SECONDS + 5
    assert len([m for m in client.seen if m["type"] == "pong"]) <= 10 + 5 * (time.monotonic() - began) + 1
    assert len([m for m in client.seen if m["type"] == "error"]) == 1
    wait_until(lambda: server.app.state.hub.active == 0, 10, "the flooding session to end")


class StuckConnection:
    """What uvicorn hands the app, for a client that reads nothing: a `send` that never completes (its
    send buffer stays full), and the transport under it, which records an abort."""

    def __init__(self):
        self.transport = self  # uvicorn's protocols keep it as .transport
        self.aborted = False

    async def receive(self) -> dict:
        await asyncio.Event().wait()
        return {}

    async def send(self, message: dict) -> None:
        await asyncio.Event().wait()

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 70_000

    def get_extra_info(self, name: str):
        return None


def _stuck_session(connection: StuckConnection, receive=None) -> Session:
    websocket = WebSocket({"type": "websocket", "path": "/api/ws", "headers": []},
                          receive=receive or connection.receive, send=connection.send)
    websocket.application_state = WebSocketState.CONNECTED
    session = Session(websocket, SimpleNamespace(settings=Settings(send_timeout_s=0.2)))
    session._wake, session.budget = asyncio.Event(), ByteBudget(1e9)
    session.outbox = Outbox(session._wake.set)
    return session


@pytest.mark.parametrize("queued", ["close", "frame"])
def test_a_send_or_close_that_cannot_complete_aborts_the_connection(queued):
    async def scenario() -> float:
        connection = StuckConnection()
        session = _stuck_session(connection)
        if queued == "close":  # e.g. a time limit's close, behind a full send buffer
            session.outbox.close(4408, "this session reached its time limit")
        else:
            session.outbox.put({"type": "pong"})
        began = time.monotonic()
        await asyncio.wait_for(session._send(), 5)  # returns: the session ends like on a disconnect
        assert connection.aborted
        return time.monotonic() - began

    assert 0.15 < run_coroutine(scenario()) < 2.0  # send_timeout_s = 0.2


def test_the_connection_is_found_behind_a_middleware_that_wraps_receive():
    connection = StuckConnection()
    receive = connection.receive

    async def wrapped_receive():  # as a middleware's closure would
        return await receive()

    assert abort_connection(_stuck_session(connection, wrapped_receive).websocket) and connection.aborted
    assert not abort_connection(WebSocket({"type": "websocket", "path": "/", "headers": []},
                                          receive=lambda: None, send=connection.send))


def _server_side_open(server_port: int, client_port: int) -> bool:
    """The server's end of this TCP connection still exists (any state but TIME_WAIT); from /proc."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, remote, state = line.split()[1:4]
            if (int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port
                    and state != "06"):  # 06: TIME_WAIT
                return True
    return False


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's TCP table (Linux)")
@pytest.mark.parametrize("limit, send_timeout", [(2.0, 1.0), (1.0, 2.0)])  # the 2nd: the limit's close waits
def test_a_client_that_never_reads_is_dropped_on_time(make_server, client_for, limit, send_timeout):
    # ~1 MB/s of frames into small socket buffers: the server's sends block within a second, and neither
    # the time limit's close frame nor anything else can be written after that
    server = make_server(frame_rate=30, max_bytes_per_s=50_000_000, send_buffer=16_384,
                         max_session_seconds=limit, send_timeout_s=send_timeout)
    server_port = urlsplit(server.url).port
    sock = socket.create_connection(("127.0.0.1", server_port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    client_port = sock.getsockname()[1]
    client = client_for(server, sock=sock, max_queue=1, close_timeout=0.2, compression=None)
    began = time.monotonic()
    client.send({"type": "start", "config": {"grid": 512, "steps": 1_000_000, "batch_size": 64}})  # never read
    wait_until(lambda: server.app.state.hub.active == 1, 10, "the session")
    wait_until(lambda: server.app.state.hub.active == 0, limit + send_timeout + 8, "the session to end")
    ended = time.monotonic() - began
    assert ended < limit + send_timeout + 3, f"ended {ended:.1f} s after it began"
    wait_until(lambda: not session_threads(), 5, "the session's threads to stop")
    wait_until(lambda: not _server_side_open(server_port, client_port), 5, "the server to drop the connection")


# ---- strict numbers over the socket

@pytest.mark.parametrize("patch, said", [
    ({"nr": "10"}, "nr: must be a number (got '10')"),
    ({"nr": True}, "nr: must be a number (got True)"),
    ({"hidden": 64.0}, "hidden: must be an integer (got 64.0)"),
    ({"lr_decay": 1}, "lr_decay: must be true or false (got 1)"),
])
def test_a_quoted_or_boolean_number_is_refused_by_name(live_server, client_for, patch, said):
    client = client_for(live_server)
    client.send({"type": "start", "config": {**FAST, **patch}})
    assert client.wait_for(_set_reply, 30, "start reply") == {"type": "error", "message": said}
    reply = client.start({**FAST, "nr": 10, "lr": 1})  # JSON ints for float knobs stay valid
    assert reply["config"]["nr"] == 10.0
    client.send({"type": "set", "config": patch})
    assert client.wait_for(_set_reply, 10, "set reply") == {"type": "error", "message": said}
