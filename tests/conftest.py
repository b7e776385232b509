"""Shared fixtures: the app served by a real uvicorn on a free loopback port.

    def test_page(live_server):             # default settings
        httpx.get(f"{live_server}/api/health")

    def test_token(make_server):            # any Settings field as a keyword
        server = make_server(token="secret-16-chars!", max_sessions=2)
        server.url, server.ws_url, server.app   # the app: server.app.state.hub has the sessions

A LiveServer *is* its base URL ("http://127.0.0.1:PORT"), so f-strings work directly.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from models.threads import set_torch_threads

from server.background import BackgroundServer
from server.settings import Settings

# One intra-op thread, as the engine defaults to: the models are tiny, and on a shared 2-core machine
# more threads only fight each other and whatever else runs (tens of times slower under contention).
set_torch_threads()


class LiveServer(str):
    """The base URL of a running server, carrying its app and settings."""

    app: object
    settings: Settings

    @property
    def url(self) -> str:
        return str(self)

    @property
    def ws_url(self) -> str:
        return "ws" + self[len("http"):] + "/api/ws"


@pytest.fixture
def make_server() -> Iterator[Callable[..., LiveServer]]:
    """A factory: make_server(**settings) starts a server; all are stopped after the test.
    (send_buffer=N sets SO_SNDBUF of its sockets: see server.background.)"""
    servers: list[BackgroundServer] = []

    def make(**overrides) -> LiveServer:
        background = BackgroundServer(**overrides)
        servers.append(background)
        live = LiveServer(background.start())
        live.app, live.settings = background.app, background.settings
        return live

    yield make
    for background in reversed(servers):
        background.stop()


@pytest.fixture
def live_server(make_server) -> LiveServer:
    """A server with default settings (loopback, no token), fresh for each test."""
    return make_server()
