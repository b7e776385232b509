"""Helpers for the server tests: a WebSocket client that waits for conditions (never sleeps and
hopes), and a guard that fails any test during which the server logged an error."""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

FAST = {"steps": 400, "batch_size": 64, "grid": 32}  # a quick 1-D run for tests that do not need the defaults


class Client:
    """A test's view of one socket: every message it received, and waits on them."""

    def __init__(self, url: str, **kwargs):
        # max_queue=None: the client's thread reads whatever arrives, so closing never waits behind
        # unread frames (a test of a client that does not read passes a small max_queue)
        options = {"open_timeout": 10, "max_size": 2 ** 22, "max_queue": None, "close_timeout": 2, **kwargs}
        self.ws = connect(url, legacy=True, **options)  # closed by close()
        self.seen: list[dict] = []

    def send(self, message) -> None:
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    def recv(self, timeout: float) -> dict:
        message = json.loads(self.ws.recv(timeout=timeout))
        self.seen.append(message)
        return message

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 10.0, what: str = "a message") -> dict:
        """Read until a message satisfies `predicate`; fail with what was seen if none does in time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s; last messages: {_brief(self.seen[-6:])}")
            try:
                message = self.recv(left)
            except TimeoutError:
                continue
            if predicate(message):
                return message

    def wait_type(self, kind: str, timeout: float = 10.0, **fields) -> dict:
        def matches(m: dict) -> bool:
            return m.get("type") == kind and all(m.get(k) == v for k, v in fields.items())
        return self.wait_for(matches, timeout, f"{kind} {fields or ''}".strip())

    def start(self, config: Optional[dict] = None, running: bool = True) -> dict:
        """Start a run; returns the config reply (and, unless running, leaves it paused at step 0)."""
        self.send({"type": "start", "config": config or {}, "paused": not running})
        reply = self.wait_for(lambda m: m["type"] in ("config", "error"), 30, "start reply")
        assert reply["type"] == "config", reply
        if not running:
            self.wait_type("frame", step=0)
        return reply

    def close_code(self, timeout: float = 10.0) -> tuple[int, str]:
        """Read until the server closes the socket; its close code and reason."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    self.recv(deadline - time.monotonic())
                except TimeoutError:
                    pass
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError(f"socket still open after {timeout} s")

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _brief(messages: list[dict]) -> str:
    return "; ".join(json.dumps({k: v for k, v in m.items() if not isinstance(v, (dict, list))})[:200]
                     for m in messages)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def raw_get(base: str, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    """A GET with the path sent byte for byte (httpx would normalise '..')."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=bool(headers and "Host" in headers))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def run_coroutine(coroutine):
    """asyncio.run(coroutine) on a thread of its own: when the browser tests run first in this process,
    Playwright's sync API keeps an event loop running on the main thread, where asyncio.run refuses."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    """A loopback port nothing listens on now: for a server started as a subprocess."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ROOT = Path(__file__).resolve().parents[2]


class LimitedServer:
    """A `python -m server.cli serve` subprocess started by limited_server(): its addresses, process and log."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/api/ws"
        self.log_path = log_path
        self._final_log: Optional[str] = None  # kept once the server has ended (its temporary file is gone)

    def log(self) -> str:
        """What the server wrote to stderr so far (all of it, once the with-block has ended)."""
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace")


@contextmanager
def limited_server(env: dict[str, str], memory_limit_bytes: int, log_path: Optional[Path] = None,
                   start_timeout: float = 60.0) -> Iterator[LimitedServer]:
    """`python -m server.cli serve` in a subprocess whose address space is capped at `memory_limit_bytes`
    (RLIMIT_AS): a test that could exhaust memory kills that server, never the machine.

    `env` is laid over this process's environment; the server listens on a free loopback port (NCE_PORT,
    NCE_HOST) with no token. Yields once /api/health answers 200 (fails with the server's log if it exits
    first or takes over `start_timeout` s); terminates it when the block ends, after which `.log()` holds
    all it wrote to stderr (kept at `log_path` if given, else in a temporary file removed then)."""
    port = free_port()
    server_env = {**os.environ, **env, "NCE_PORT": str(port), "NCE_HOST": "127.0.0.1"}
    server_env.pop("NCE_TOKEN", None)
    server_env.pop("NCE_STUDENT_TOKENS", None)
    temporary = log_path is None
    if temporary:
        descriptor, name = tempfile.mkstemp(prefix="nce-server-", suffix=".log")
        os.close(descriptor)
        log_path = Path(name)

    def limit_memory() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))

    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=server_env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log_file, preexec_fn=limit_memory)
    server = LimitedServer(proc, port, log_path)
    try:
        _wait_for_health(server, start_timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server._final_log = log_path.read_text(errors="replace")
        if temporary:
            log_path.unlink(missing_ok=True)


def _wait_for_health(server: LimitedServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise AssertionError(f"the server exited ({server.proc.returncode}) before /api/health answered:\n"
                                 f"{server.log()[-3000:]}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server did not answer /api/health within {timeout} s:\n{server.log()[-3000:]}")
        try:  # a request that arrives while torch loads waits for the app (server.boot)
            if httpx.get(f"{server.url}/api/health", timeout=min(left, 10)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def status_kb(pid: int, field: str) -> int:
    """One kB field of /proc/PID/status, e.g. VmRSS (resident now) or VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def rss_mb(pid: int) -> float:
    return status_kb(pid, "VmRSS") / 1024


def session_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nce-session-")]


@pytest.fixture
def client_for():
    """client_for(server, **connect kwargs) -> Client; all closed after the test."""
    clients: list[Client] = []

    def make(server, path: str = "", **kwargs) -> Client:
        client = Client(server.ws_url + path, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class _ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("server", "uvicorn")) and (
                record.levelno >= logging.ERROR or record.name.startswith("server")):
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_server_errors() -> Iterator[None]:
    """Fail the test if the server logged an error (or a warning of its own) while it ran."""
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    problems = [logging.Formatter("%(name)s: %(message)s").format(r) for r in handler.records]
    assert not problems, "the server logged:\n" + "\n".join(problems)
