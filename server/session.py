"""A Session: one WebSocket and its Runner. Two tasks on the event loop: the reader turns messages
into commands for the runner (or `error` replies), the sender empties the Outbox. When either ends
(disconnect, close, failure) the session stops its runner and its sweep, and run() returns only once
both threads have ended (within ~0.5 s, even in heavy work: see Runner.stop): until then the Hub counts it,
in /api/health and against max_sessions.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Optional

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import wire
from .memory import release_freed_memory
from .messages import MessageError, parse_message
from .outbox import ByteBudget, Close, Outbox
from .runner import SESSION_LIMIT, Runner, Services
from .sweeps import SweepSlot

log = logging.getLogger(__name__)

STOP_WARN_S = 10.0  # a closing session still waiting for its threads after this long logs a warning
STOP_POLL_S = 0.01
_serial = itertools.count(1)


class Session:
    def __init__(self, websocket: WebSocket, services: Services):
        self.websocket, self.services, self.settings = websocket, services, services.settings
        self.name = f"nce-session-{next(_serial)}"
        self.runner: Optional[Runner] = None

    async def run(self) -> None:
        """Serve the (accepted) socket until it closes."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.outbox = Outbox(lambda: _call_soon(loop, self._wake.set))
        self.budget = ByteBudget(self.settings.max_bytes_per_s)
        self.runner = Runner(self.services, self.outbox, self.budget, self.name)
        self.sweep = SweepSlot(self.settings, self.services.sweep_slots, self.outbox, self.name)
        self.runner.start()
        limit_timer = None
        if self.settings.max_session_seconds is not None:
            limit_timer = loop.call_later(self.settings.max_session_seconds, self.outbox.close, SESSION_LIMIT,
                                          f"this session reached its time limit of "
                                          f"{self.settings.max_session_seconds:g} s; reload to start a new one")
        tasks = [asyncio.create_task(self._read(), name=f"{self.name}-read"),
                 asyncio.create_task(self._send(), name=f"{self.name}-send")]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if limit_timer is not None:
                limit_timer.cancel()
            self.runner.stop()
            self.sweep.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._threads_ended()
            await asyncio.to_thread(release_freed_memory)  # give back what the session freed (glibc)

    def busy(self) -> bool:
        """The runner's or the sweep's thread is still running."""
        return self.runner is not None and self.runner.is_alive() or self.sweep.busy()

    async def _threads_ended(self) -> None:
        """Wait, without a deadline, until the runner and the sweep have ended: the session is counted
        until then. Heavy work looks at the stop flag, so this is ~0.5 s; a single step that cannot be
        cut (a very large MLE grid) is waited for, and said so."""
        warn_at = time.monotonic() + STOP_WARN_S
        while self.busy():
            if warn_at is not None and time.monotonic() > warn_at:
                log.warning("%s: runner or sweep still busy %.0f s after the socket closed", self.name, STOP_WARN_S)
                warn_at = None
            await asyncio.sleep(STOP_POLL_S)

    async def _read(self) -> None:
        idle, closing = self.settings.idle_timeout_s, False
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), idle)
            except asyncio.TimeoutError:
                if closing:  # the close never got out (a client that reads nothing): drop the socket
                    return
                self.outbox.close(SESSION_LIMIT, f"idle for {idle:g} s: no message from the page")
                closing = True
                continue  # the sender closes; the disconnect ends this loop
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.outbox.put(wire.error_message("send JSON text messages, not binary ones"))
                continue
            self._handle(text)

    def _handle(self, text: str) -> None:
        try:
            command = parse_message(text)
        except MessageError as error:
            self.outbox.put(wire.error_message(str(error)))
            return
        if command.kind == "ping":  # keeps a quiet page's session from idling out
            self.outbox.put({"type": "pong"})
        elif command.kind == "sweep":  # beside the live run, on a thread of its own
            self.sweep.start(command.config)
        elif command.kind == "sweep_cancel":
            if not self.sweep.cancel():
                self.outbox.put(wire.error_message("sweep_cancel: no sweep is running"))
        elif not self.runner.submit(command):
            self.outbox.put(wire.error_message(f"{command.kind}: too many commands waiting; slow down"))

    async def _send(self) -> None:
        websocket = self.websocket
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                for item in self.outbox.take():
                    if isinstance(item, Close):
                        await websocket.close(item.code, item.reason)
                        return
                    await websocket.send_text(item)
                    self.budget.spend(len(item))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away mid-send


def _call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop has closed (server shutting down): nobody to wake
        pass
