"""`nce-playground serve` listens before torch is imported.

Importing torch and the models takes 2-7 s; nothing about opening the port needs them. `DeferredApp`
is a small ASGI app that uvicorn can start at once: its start-up hands the real app's construction
(`build`, e.g. `server.app.create_app`) to a thread and returns, so the port is open in well under a
second. Requests that arrive meanwhile wait for the real app (the browser fetches the page and the
Plotly bundle while torch loads), then go to it. The real app's own lifespan (hub, device check) runs
as soon as it is built; if the build or that start-up fails, the error is logged and the server shuts
down, as it would have without the deferral.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from typing import Any, Awaitable, Callable, Optional

from .security import SECURITY_HEADERS

log = logging.getLogger("uvicorn.error")  # uvicorn configures this one: the lines show beside its own

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

# A request that arrives while the app is loading waits at most this long. torch imports in 2-7 s on a
# busy laptop; a cold container on a slow disk can take several times that.
READY_WAIT_S = 120.0


class DeferredApp:
    def __init__(self, build: Callable[[], ASGIApp], on_failure: Optional[Callable[[], None]] = None):
        self._build = build
        self._on_failure = on_failure or _stop_server
        self._app: Optional[ASGIApp] = None
        self.failure: Optional[str] = None  # why the real app could not start, once that is known
        self._ready: Optional[asyncio.Event] = None
        self._inner_lifespan: Optional[_Lifespan] = None
        self._loader: Optional[asyncio.Task] = None

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self._app is None:
            ready = self._ready_event()
            try:
                await asyncio.wait_for(ready.wait(), READY_WAIT_S)
            except asyncio.TimeoutError:
                pass
        if self._app is None:
            await _refuse(scope, send, self.failure or f"the app is still loading after {READY_WAIT_S:.0f} s")
            return
        await self._app(scope, receive, send)

    def _ready_event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def _lifespan(self, scope: dict, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ready_event()
                self._loader = asyncio.get_running_loop().create_task(self._load(scope))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._loader is not None and not self._loader.done():
                    self._loader.cancel()  # the build thread finishes on its own; its app is never started
                if self._inner_lifespan is not None:
                    await self._inner_lifespan.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _load(self, scope: dict) -> None:
        started = time.perf_counter()
        try:
            app = await asyncio.to_thread(self._build)
            lifespan = _Lifespan(app, scope)
            await lifespan.startup()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # noqa: BLE001 — any failure must stop the server, not hang it
            self.failure = f"the app failed to start: {error}"
            log.error("%s", self.failure)
            self._ready_event().set()
            self._on_failure()
            return
        self._app, self._inner_lifespan = app, lifespan
        log.info("app ready: models and torch loaded in %.1f s", time.perf_counter() - started)
        self._ready_event().set()


class _Lifespan:
    """Drives an ASGI app's lifespan protocol by hand: startup now, shutdown later."""

    def __init__(self, app: ASGIApp, scope: dict):
        self._app = app
        self._scope = scope
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._task: Optional[asyncio.Task] = None

    async def startup(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._app({**self._scope, "state": self._scope.get("state", {})}, self._inbox.get, self._outbox.put))
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        try:
            await self._exchange("lifespan.shutdown")
        except RuntimeError as error:
            log.error("%s", error)

    async def _exchange(self, kind: str) -> None:
        await self._inbox.put({"type": kind})
        reply_task = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({reply_task, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not reply_task.done():
            reply_task.cancel()
            error = self._task.exception() if not self._task.cancelled() else None
            raise RuntimeError(f"{kind} ended without an answer" + (f": {error}" if error else ""))
        reply: dict[str, Any] = reply_task.result()
        if reply["type"].endswith(".failed"):
            raise RuntimeError(reply.get("message") or f"{kind} failed")


async def _refuse(scope: dict, send, reason: str) -> None:
    """503 for HTTP, close 1013 (try again later) for a socket: only while loading failed or hangs."""
    if scope["type"] == "http":
        body = json.dumps({"detail": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        # answered before the app (and its SecurityMiddleware): the security headers are added here
        headers += [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013, "reason": reason[:120]})


def _stop_server() -> None:
    """Ask uvicorn to shut down, as a failed start-up would have (it handles SIGTERM gracefully)."""
    os.kill(os.getpid(), signal.SIGTERM)
