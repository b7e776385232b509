"""Security defaults: strict headers on every response, a Host-header allowlist (DNS rebinding),
the access tokens (NCE_TOKEN, NCE_STUDENT_TOKENS; wrong guesses throttled per address), same-origin
sockets (browsers let any page open a WebSocket) and same-origin state-changing requests (any page
can POST a form to any server), the token kept out of the logs, and a loud start-up warning when the
server is reachable from the network unguarded."""
from __future__ import annotations

import json
import logging
import re
from typing import Optional
from urllib.parse import unquote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import Settings, is_loopback
from .tokens import LOCAL, GuessThrottle, Holder, TokenGate, read_token_file

log = logging.getLogger(__name__)

TOKEN_QUERY = "token"
TOKEN_HEADER = "x-nce-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # the rest change state: same origin only
REDACTED = "[redacted]"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # Plotly injects <style> elements
    "img-src 'self' data: blob:",        # Plotly's PNG export
    "connect-src 'self'",                # CSP 3: 'self' covers ws:/wss: to the same host
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's URL may hold the token
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityMiddleware:
    """Adds SECURITY_HEADERS to every HTTP response, refuses requests whose Host header is not
    allowed (None: any) with 400, and state-changing requests (POST, ...) from another site's page
    with 403: a browser sends Origin with them; curl and scripts send none and pass."""

    def __init__(self, app: ASGIApp, allowed_hosts: Optional[frozenset[str]] = None):
        self.app, self.allowed_hosts = app, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if not self._host_allowed(scope):
            return await self._refuse(scope, send)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        if scope["method"] not in SAFE_METHODS:
            connection = HTTPConnection(scope)
            if not same_origin(connection):
                return await _answer(send, 403, f"cross-site request refused: Origin "
                                                f"{_origin_text(connection)} is not this server's page")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host_allowed(self, scope: Scope) -> bool:
        if self.allowed_hosts is None:
            return True
        host = HTTPConnection(scope).headers.get("host", "")
        return _host_name(host) in self.allowed_hosts

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: answered as HTTP 403
            return
        await _answer(send, 400, "unknown Host header")


async def _answer(send: Send, status: int, detail: str) -> None:
    """A JSON error answered before the app, with the security headers."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _origin_text(connection: HTTPConnection) -> str:
    origin = connection.headers.get("origin", "")
    return repr(origin) if len(origin) <= 80 else repr(origin[:80]) + "..."


def _host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '[::1]', lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Refused(Exception):
    """A request refused for its token: HTTP status, socket close code, message, and for a throttled
    address the seconds to wait (Retry-After)."""

    def __init__(self, status: int, close_code: int, detail: str, retry_after: Optional[int] = None):
        super().__init__(detail)
        self.status, self.close_code, self.detail, self.retry_after = status, close_code, detail, retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


CLOSE_UNAUTHORISED = 4401
CLOSE_THROTTLED = 4429  # 4000 + HTTP's 429 Too Many Requests


class Access:
    """Who may use the server: NCE_TOKEN and the tokens in NCE_STUDENT_TOKENS (none set: everyone, as
    one local user), with wrong guesses throttled per client address. Made once per app."""

    def __init__(self, settings: Settings, throttle: Optional[GuessThrottle] = None):
        students = read_token_file(settings.student_tokens) if settings.student_tokens is not None else ()
        self.gate = TokenGate(settings.token, students)
        self.throttle = throttle or GuessThrottle()

    def admit(self, connection: HTTPConnection) -> Holder:
        """The holder of the connection's token (?token=... or X-NCE-Token), or Refused: 429 / 4429
        while its address is throttled (the token is not even looked at), 401 / 4401 without a right one."""
        if not self.gate.required:
            return LOCAL
        address = connection.client.host if connection.client else "unknown"
        wait = self.throttle.retry_after(address)
        if wait is not None:
            raise _throttled(wait)
        supplied = connection.query_params.get(TOKEN_QUERY) or connection.headers.get(TOKEN_HEADER)
        holder = self.gate.holder_of(supplied or "")
        if holder is not None:
            return holder
        if supplied:  # a guess (a request with no token at all guesses nothing)
            block = self.throttle.failed(address)
            if block is not None:
                log.info("wrong access tokens from %s: refused for %d s", address, block)
        raise Refused(401, CLOSE_UNAUTHORISED,
                      "a valid access token is required (?token=... in the page's address, or the X-NCE-Token header)")


def _throttled(wait: int) -> Refused:
    return Refused(429, CLOSE_THROTTLED, f"too many wrong access tokens from your address: try again in {wait} s",
                   retry_after=wait)


def same_origin(connection: HTTPConnection) -> bool:
    """A browser's socket must come from this server's own page (no Origin: not a browser, allowed)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    try:
        origin_host = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(origin_host) and origin_host == connection.headers.get("host", "").strip().lower()


# ------------------------------------------------------------------ the token out of the logs
_QUERY_PAIR = re.compile(r"([?&])([^=&\s\"]*)=([^&\s\"]*)")


def redact_token(text: str) -> str:
    """`text` with the value of every `token=` query parameter (its name percent-decoded, as the app
    reads it) replaced by [redacted]: '/?token=abc&x=1' -> '/?token=[redacted]&x=1'."""
    if "=" not in text:
        return text

    def scrub(match: re.Match) -> str:
        if unquote(match.group(2)).lower() != TOKEN_QUERY:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}={REDACTED}"

    return _QUERY_PAIR.sub(scrub, text)


class TokenRedactingFilter(logging.Filter):
    """Scrubs ?token=... from log records (uvicorn's access log and its "WebSocket /api/ws?token=..."
    lines), as Jupyter Server does: whoever reads the log does not get the key to the server."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_token(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_token(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_token(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error")  # the request lines: access log, socket handshakes


def install_log_redaction() -> None:
    """Adds TokenRedactingFilter to uvicorn's loggers, once (logger filters see every record they log)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in logger.filters):
            logger.addFilter(TokenRedactingFilter())


# ------------------------------------------------------------------ exposure at start-up
def exposure_warnings(settings: Settings) -> list[str]:
    """What is unguarded when the server binds a non-loopback address (empty on loopback): no token
    (anyone on the network can train and upload), and no NCE_ALLOWED_HOSTS (any Host header is
    answered, so a web page can reach the server through DNS rebinding)."""
    if is_loopback(settings.host):
        return []
    problems = []
    if settings.token is None and settings.student_tokens is None:
        problems.append(f"bound to {settings.host} with no NCE_TOKEN: anyone who can reach this port can "
                        f"open sessions and upload data. Set NCE_TOKEN (e.g. NCE_TOKEN=$(openssl rand -hex 8)) "
                        f"and hand out http://HOST:{settings.port}/?token=...")
    if settings.host_allowlist() is None:
        problems.append(f"bound to {settings.host} with NCE_ALLOWED_HOSTS unset (or '*'): every Host header is "
                        f"answered, "
                        f"so a web page can reach this server by DNS rebinding. Set NCE_ALLOWED_HOSTS to the "
                        f"names people use, e.g. NCE_ALLOWED_HOSTS='[\"lab.example\", \"192.168.1.20\"]'")
    return problems


def warn_if_exposed(settings: Settings) -> list[str]:
    """Logs exposure_warnings loudly (one WARNING each, framed to stand out in a busy terminal)."""
    problems = exposure_warnings(settings)
    for problem in problems:
        log.warning("\n%s\n!!! SECURITY WARNING: %s\n%s", "!" * 72, problem, "!" * 72)
    return problems
