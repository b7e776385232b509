"""A Session: one WebSocket and its Runner. Two tasks on the event loop: the reader turns messages
into commands for the runner (or `error` replies), within the socket's MessageRate; the sender empties
the Outbox. When either ends (disconnect, close, failure) the session stops its runner and its sweep, and
run() returns only once both threads have ended (within ~0.5 s, even in heavy work: see Runner.stop):
until then the Hub counts it, in /api/health and against max_sessions.

A client that reads nothing fills its socket's send buffer, and then every send waits, the closing
frame of a time limit included. So each send and close may take NCE_SEND_TIMEOUT_S; past it the
connection is aborted (see abort_connection), which ends the session like a disconnect.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
import time
from typing import Optional

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import wire
from .memory import release_freed_memory
from .messages import FLOOD, REFUSE, RUN, MessageError, MessageRate, parse_message
from .outbox import CLOSE_POLICY, ByteBudget, Close, Outbox
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
        self.sweep = SweepSlot(self.settings, self.services.sweep_slots, self.outbox, self.name, self.runner.steps)
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
        idle, closing, flooded = self.settings.idle_timeout_s, False, False
        rate = MessageRate(self.settings.message_rate)
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), idle)
            except asyncio.TimeoutError:
                if closing:  # the close never got out (a client that reads nothing): drop the socket
                    abort_connection(self.websocket)
                    return
                self.outbox.close(SESSION_LIMIT, f"idle for {idle:g} s: no message from the page")
                closing = True
                continue  # the sender closes; the disconnect ends this loop
            if message["type"] == "websocket.disconnect":
                return
            verdict = FLOOD if flooded else rate.admit()
            if verdict != RUN:  # dropped unread: a flood costs the loop as little as it can
                if verdict == REFUSE:
                    self.outbox.put(wire.error_message(rate.refusal()))
                elif verdict == FLOOD and not flooded:
                    self.outbox.close(CLOSE_POLICY, rate.flood_reason(), drop=True)
                    flooded = True  # read on (and drop) until the connection is gone
                await asyncio.sleep(rate.pause())  # the others' frames go out between dropped messages
                continue
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
        websocket, timeout = self.websocket, self.settings.send_timeout_s
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                for item in self.outbox.take():
                    if isinstance(item, Close):
                        await asyncio.wait_for(websocket.close(item.code, item.reason), timeout)
                        if item.drop:  # the close frame is out (a flooder reads): no reset to lose it
                            abort_connection(websocket, reset=False)
                        else:  # the close frame is written, maybe behind unsent frames: if they have not gone
                            # out in time either, the connection goes (else the transport waits on them forever)
                            asyncio.get_running_loop().call_later(timeout, abort_connection, websocket, True, True)
                        return
                    await asyncio.wait_for(websocket.send_text(item), timeout)
                    self.budget.spend(len(item))
        except asyncio.TimeoutError:  # its send buffer stayed full: the client reads nothing (caught before
            # OSError, of which TimeoutError is one)
            log.info("%s: nothing could be sent for %g s (NCE_SEND_TIMEOUT_S): connection dropped", self.name, timeout)
            abort_connection(websocket)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away mid-send


def abort_connection(websocket: WebSocket, reset: bool = True, only_if_unsent: bool = False) -> bool:
    """Drop the connection under `websocket` at once, unsent bytes and all; False if none was found.
    ASGI has no abort, and uvicorn's own close (when the app returns, or the closing handshake's timer)
    waits for the send buffer to drain: a client that never reads would keep the connection, its
    descriptor and its buffer, as long as it likes. uvicorn's WebSocket protocols (websockets, sans-I/O,
    wsproto) hand the app their bound `receive` and keep the connection as `.transport` (an asyncio or
    uvloop transport); a middleware that wraps `receive` keeps the original in its closure, searched too.
    `reset`: with SO_LINGER 0, so the kernel too drops the unsent bytes and answers RST (an abort alone
    leaves them to the kernel, which goes on offering them to a client that reads nothing).
    `only_if_unsent`: leave a connection alone whose buffer has drained (its closing handshake goes on)."""
    transport = _transport_of(websocket._receive)
    if transport is None:
        return False
    if only_if_unsent and transport.get_write_buffer_size() == 0:
        return True
    sock = transport.get_extra_info("socket")
    if reset and sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError, TypeError):  # closed already, or a socket-like without options
            pass
    transport.abort()  # nothing if it has closed already
    return True


def _transport_of(receive, depth: int = 4):
    """The transport behind an ASGI `receive`: its owner's `.transport`, or one found in the closures of
    up to `depth` functions wrapping it; None if there is none."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if callable(getattr(transport, "abort", None)) and callable(getattr(transport, "get_write_buffer_size", None)):
        return transport
    if depth > 0:
        for cell in getattr(receive, "__closure__", None) or ():
            try:
                inner = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(inner) and (found := _transport_of(inner, depth - 1)) is not None:
                return found
    return None


def _call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop has closed (server shutting down): nobody to wake
        pass
