"""Connection limits that uvicorn lacks: a deadline on the request header, a cap on open
connections (in all and per client address), a cap on the header's size, and the security headers
on uvicorn's own error replies. `uvicorn_options(settings)` hands them to uvicorn; every way the
server starts (`nce-playground serve`, server.background.BackgroundServer, the Docker image's CMD,
the benches that start either) passes it, so they all run with the same guards.

What uvicorn 0.27-0.55 does on its own (read in uvicorn/protocols/http/*_impl.py):
- no header-read timeout: its one timer, `timeout_keep_alive`, is armed only after a response, and any
  byte received cancels it. A connection that sends half a header, or nothing, is held forever: ~1,000
  of them take every descriptor at `ulimit -n 1024` (issue 17's slowloris).
- no cap on connections: `limit_concurrency` answers 503 only once a request header has been parsed,
  so it never sees a connection that does not finish one, and by then the descriptor is already taken.
- with httptools (what `uvicorn[standard]` picks), no cap on a header's size: llhttp hands header
  values over whole, and a client could grow one by the gigabyte within any timeout (h11 stops at 16 KiB).
- its own replies (400 for a malformed request; the WebSocket handshake's 403 when the app closes before
  accepting, 400/426 for a bad upgrade, 500) are written by the protocol, past every middleware: they
  carried none of server/security.py's SECURITY_HEADERS.

So this module subclasses uvicorn's protocol classes, which uvicorn.Config accepts as `http=` and `ws=`:
- GuardedHttpProtocol (on HttpToolsProtocol): connection_made counts the connection (over a cap: a
  429 naming the setting, then closed at once, before anything else is read); a deadline of
  NCE_HEADER_TIMEOUT_S runs from the connection's start and from the first byte of every next request
  on a kept-alive one, and is cancelled when the header is complete (passed: 408 if part of a header
  came, a silent close if nothing did); a header over MAX_HEADER_BYTES is answered 431; its 400 carries
  the security headers. Every drop is logged on uvicorn's logger (warning; info for a connection that
  sent nothing, as browsers' unused preconnections do), at most one line per kind every LOG_EVERY_S with
  the count in between (DropLog), so a slowloris shows in the log without flooding it.
- GuardedWebSocketProtocol (on the websockets sans-I/O protocol, what uvicorn picks with websockets
  installed): adds the security headers to every handshake rejection, and hands the connection's count
  back when an upgraded socket ends (an upgrade moves the transport to this protocol: the HTTP one never
  hears of its end).
Only httptools is subclassed, not h11 too: `uvicorn[standard]` (pyproject.toml) always installs
httptools, which `http="auto"` would pick anyway, and one parser is one code path to test. The hooks
used (connection_made/lost, data_received, on_message_begin, on_headers_complete, send_400_response,
handle_websocket_upgrade) are the parser callbacks and the protocol's own methods; tests/server/
test_attacks_connections.py fails if an uvicorn upgrade changes them.

Why not another server: the other ASGI servers (hypercorn, granian, daphne) bring timeouts of their
own, but the caps here (per client address, header size) would still be ours to write, and a switch
means rewriting server/boot.py, server/background.py and the benches around another lifecycle and
re-measuring the socket path the frames take; gunicorn's uvicorn worker runs these same protocol
classes. A reverse proxy in front (nginx's client_header_timeout, limit_conn) is the right thing for a
big deployment, but the workshop recipe is one `nce-playground serve` (or `docker run`) with nothing
in front, so the server must hold on its own.
The upload body's own idle timeout and in-flight cap are in server/uploads.py (the app reads bodies).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Optional

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .security import SECURITY_HEADERS
from .settings import UVICORN_OPTIONS, Settings

log = logging.getLogger("uvicorn.error")  # uvicorn configures this one: the lines show beside its own

# A request header this long is refused (431). Browsers send ~1-2 KB here (no cookies; the token is a
# query parameter); nginx allows 4 x 8 KB by default, h11 16 KB. Counted per read, so a header may
# pass it by one read (at most 256 KiB) before it is refused.
MAX_HEADER_BYTES = 65_536
LOG_EVERY_S = 10.0  # at most one warning per kind of drop this often; the ones between are counted


class ConnectionLimits:
    """Open connections of one server, in all and per client address; refuses past either cap."""

    def __init__(self, max_total: int, max_per_address: int):
        self.max_total, self.max_per_address = max_total, max_per_address
        self.total = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0  # connections refused over a cap since the server started

    def take(self, address: str) -> Optional[tuple[str, str]]:
        """Counts a new connection from `address`, or counts nothing and returns (kind, why) over a cap."""
        if self.total >= self.max_total:
            self.refused += 1
            return "total", (f"the server holds its most connections ({self.max_total}, NCE_MAX_CONNECTIONS): "
                             f"retry in a few seconds")
        held = self.by_address.get(address, 0)
        if held >= self.max_per_address:
            self.refused += 1
            return "address", (f"{held} connections are open from your address, the most one address may hold "
                               f"(NCE_MAX_CONNECTIONS_PER_IP={self.max_per_address}): close some tabs and retry")
        self.total += 1
        self.by_address[address] = held + 1
        return None

    def give_back(self, address: str) -> None:
        self.total -= 1
        left = self.by_address[address] - 1
        if left:
            self.by_address[address] = left
        else:
            del self.by_address[address]


@dataclass
class _Burst:
    what: str           # "dropped a connection", "refused an upload", ...
    why: str
    level: int
    count: int = 0      # since the last line
    last_from: str = ""


class DropLog:
    """Log lines about refused and dropped connections (and uploads), rate limited per kind: the first
    is logged at once; the ones in the next LOG_EVERY_S are counted and logged as one line when it ends
    (and so on while they keep coming). A flood of thousands writes a line every LOG_EVERY_S."""

    def __init__(self):
        self._bursts: dict[str, _Burst] = {}  # kinds inside their quiet interval

    def note(self, loop, kind: str, what: str, why: str, address: str, level: int = logging.WARNING) -> None:
        burst = self._bursts.get(kind)
        if burst is not None:
            burst.count, burst.last_from, burst.why = burst.count + 1, address, why
            return
        log.log(level, "%s from %s: %s", what, address, why)
        self._bursts[kind] = _Burst(what, why, level)
        loop.call_later(LOG_EVERY_S, self._flush, loop, kind)

    def _flush(self, loop, kind: str) -> None:
        burst = self._bursts[kind]
        if not burst.count:
            del self._bursts[kind]  # quiet: the next one of this kind is logged at once
            return
        log.log(burst.level, "%s %d more times in the last %.0f s (the last from %s): %s",
                burst.what, burst.count, LOG_EVERY_S, burst.last_from, burst.why)
        burst.count = 0
        loop.call_later(LOG_EVERY_S, self._flush, loop, kind)


@dataclass
class ConnectionGuard:
    """What one server's connections share: the settings they obey, the counts, the log."""
    header_timeout_s: float
    limits: ConnectionLimits
    drops: DropLog = field(default_factory=DropLog)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ConnectionGuard":
        return cls(settings.header_timeout_s,
                   ConnectionLimits(settings.max_connections, settings.max_connections_per_ip))


def error_reply(status: int, detail: str, extra_headers: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 response, JSON {"detail": ...} like the app's errors, with the security headers,
    that closes the connection: for replies written by the protocol, before or without the app."""
    body = json.dumps({"detail": detail}).encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in extra_headers]
    lines += [b"content-type: application/json", b"content-length: %d" % len(body), b"connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in SECURITY_HEADERS.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline, the connection caps, the header size cap
    and secured error replies. `guard` is set on a subclass made per server (uvicorn_options)."""

    guard: ConnectionGuard

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else "unix"  # a Unix socket has no peer address
        self._header_timer: Optional[Any] = None
        self._awaiting_header, self._header_began, self._header_bytes = True, False, 0
        refusal = self.guard.limits.take(self._address)
        self._counted = refusal is None
        if refusal is not None:
            kind, why = refusal
            self._drop(f"over-{kind}", 429, why, "refused a connection")
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_header_deadline()
        self._give_back()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        was_awaiting = self._awaiting_header
        super().data_received(data)
        if was_awaiting and self._awaiting_header and not self.transport.is_closing():
            # the whole read went into one unfinished header (a read that also ended a body is not counted)
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._drop("header-size", 431, f"the request header is over {MAX_HEADER_BYTES} bytes",
                           "refused a request")

    # httptools' parser callbacks: a request began (first byte), its header is complete
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_header, self._header_began, self._header_bytes = True, True, 0
        self._arm_header_deadline()  # a kept-alive connection's next request: the deadline starts now

    def on_headers_complete(self) -> None:
        self._awaiting_header, self._header_began = False, False
        self._cancel_header_deadline()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_header_deadline()
        counted, self._counted = self._counted, False
        super().handle_websocket_upgrade()  # the transport now belongs to a GuardedWebSocketProtocol
        if counted:
            protocol = self.transport.get_protocol()
            if isinstance(protocol, GuardedWebSocketProtocol):
                protocol.hold_count(self.guard.limits, self._address)
            else:  # another ws= class: nothing would give the count back
                self.guard.limits.give_back(self._address)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's reply to a request it cannot parse, with the security headers."""
        self._cancel_header_deadline()
        self.transport.write(error_reply(400, msg, self.server_state.default_headers))
        self.transport.close()

    # ---- own
    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.guard.header_timeout_s, self._header_timed_out)

    def _cancel_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_header:
            return
        if self._header_began:
            why = f"no complete request header within {self.guard.header_timeout_s:g} s (NCE_HEADER_TIMEOUT_S)"
            self._drop("header-timeout", 408, why, "dropped a connection")
        else:  # nothing at all: a browser's unused preconnection (at info), or a silent attacker; no answer
            why = f"it sent nothing for {self.guard.header_timeout_s:g} s (NCE_HEADER_TIMEOUT_S)"
            self._drop("idle", None, why, "closed a connection", logging.INFO)

    def _drop(self, kind: str, status: Optional[int], why: str, what: str, level: int = logging.WARNING) -> None:
        """Log (rate limited), answer `status` when given, close."""
        self._cancel_header_deadline()
        self.guard.drops.note(self.loop, kind, what, why, self._address, level)
        if status is not None:
            self.transport.write(error_reply(status, why, self.server_state.default_headers))
        self.transport.close()

    def _give_back(self) -> None:
        if self._counted:
            self._counted = False
            self.guard.limits.give_back(self._address)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol whose handshake rejections carry the security headers
    and which gives back the connection count it took over from the HTTP protocol when it ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._count: Optional[tuple[ConnectionLimits, str]] = None
        reject = self.conn.reject  # every non-101 handshake answer is made by it: 400, 403, 426, 500, ...

        def reject_with_security_headers(status, text):
            response = reject(status, text)
            for name, value in SECURITY_HEADERS.items():
                response.headers[name] = value
            return response

        self.conn.reject = reject_with_security_headers  # type: ignore[method-assign]

    def hold_count(self, limits: ConnectionLimits, address: str) -> None:
        self._count = (limits, address)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self._count is not None:
                limits, address = self._count
                self._count = None
                limits.give_back(address)


def uvicorn_options(settings: Settings) -> dict:
    """uvicorn.Config / uvicorn.run keywords for a server with `settings`, besides the app, where to
    listen and logging: UVICORN_OPTIONS and the guarded protocol classes (their counts are this server's)."""
    http = type("GuardedHttpProtocolOfServer", (GuardedHttpProtocol,),
                {"guard": ConnectionGuard.from_settings(settings)})
    return {**UVICORN_OPTIONS, "http": http, "ws": GuardedWebSocketProtocol}
