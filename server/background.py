"""The app on a real uvicorn in a background thread, on a free loopback port: for the tests' live
server, the benchmark, or a notebook. `nce-playground serve` is the way to run it for people."""
from __future__ import annotations

import socket
import threading
import time
from typing import Optional

import uvicorn

from .app import create_app
from .connections import uvicorn_options
from .settings import Settings

STARTUP_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 3.0


class BackgroundServer:
    """start() -> base URL; stop() when done. Settings fields as keywords; send_buffer sets SO_SNDBUF
    on the sockets it accepts (small: a client that does not read blocks the server quickly)."""

    def __init__(self, send_buffer: Optional[int] = None, **settings):
        self.settings = Settings(**{"host": "127.0.0.1", "token": None, **settings})
        self.app = create_app(self.settings)
        self.send_buffer = send_buffer
        self.url = ""
        self._server: Optional[uvicorn.Server] = None
        self._thread: Optional[threading.Thread] = None
        self._socket: Optional[socket.socket] = None

    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.send_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)  # accepted sockets inherit it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        options = uvicorn_options(self.settings)  # as `nce-playground serve`
        # its open connections and drops (server.connections.ConnectionGuard), for tests and benches
        self.app.state.connection_guard = options["http"].guard
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                log_config=None,  # logs go to the root logger (pytest shows them)
                                **options)
        self._server, self._socket = uvicorn.Server(config), sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"uvicorn-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start (see its log)")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        # let closing sockets finish first: uvicorn's shutdown trips over one caught mid-close
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self._server.server_state.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()
        self._server = None
