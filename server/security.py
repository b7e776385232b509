"""Security defaults: strict headers on every response, a Host-header allowlist (DNS rebinding),
the optional access token, and same-origin sockets (browsers let any page open a WebSocket)."""
from __future__ import annotations

import hmac
from typing import Optional
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_QUERY = "token"
TOKEN_HEADER = "x-nce-token"

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
    """Adds SECURITY_HEADERS to every HTTP response and refuses requests whose Host header is not
    allowed (None: any)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Optional[frozenset[str]] = None):
        self.app, self.allowed_hosts = app, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if not self._host_allowed(scope):
            return await self._refuse(scope, send)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)

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
        body = b'{"detail":"unknown Host header"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '[::1]', lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def token_matches(connection: HTTPConnection, token: Optional[str]) -> bool:
    """True when no token is set, or the request carries it (?token=... or X-NCE-Token)."""
    if token is None:
        return True
    supplied = connection.query_params.get(TOKEN_QUERY) or connection.headers.get(TOKEN_HEADER) or ""
    return hmac.compare_digest(supplied.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


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
