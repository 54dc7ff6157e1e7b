"""ASGI guards in front of every route: known Host headers only, no cross-site changes, and security headers.

- :class:`TrustedHosts`: a request whose ``Host`` is not in ``PASSCOMPASS_TRUSTED_HOSTS`` gets ``400`` (DNS
  rebinding, host-header injection).
- :class:`SameOrigin`: a request that changes something (POST, PUT, PATCH, DELETE) from a browser page of another
  origin gets ``403``: its ``Origin`` (or, without one, ``Sec-Fetch-Site: cross-site``) must be the platform's own
  or one of ``PASSCOMPASS_CORS_ORIGINS``. With the session cookie's CSRF token this makes cross-site form posts
  fail twice over.
- :class:`SecurityHeaders`: ``nosniff``, a Referer for the platform's own pages only (a sign-in link's token never
  leaves in one; ``no-referrer`` would make browsers send ``Origin: null`` with the page's own form posts), no
  framing, on every answer.

Each reads the app's settings per request, and answers in the API's error shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passcompass_assets.core.access.oidc import split_list
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=Rejected(status, error, detail).as_dict())


def host_name(host: str) -> str:
    """A Host header without its port (IPv6 literals keep their brackets off)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# A Host header as RFC 9110 allows it: a name (or IPv4 address) or a bracketed IPv6 literal, then an optional
# port. Anything else (``localhost:1@evil.example``: what a URL parser reads as user info) is not a host.
HOST = re.compile(r"([a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(:\d{1,5})?")


def host_allowed(host: str, patterns: list[str]) -> bool:
    if not HOST.fullmatch(host.strip().lower()):
        return False
    name = host_name(host)
    for pattern in (p.lower() for p in patterns):
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class TrustedHosts:
    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not host_allowed(host, split_list(self.settings().trusted_hosts)):
                detail = "this host name is not served here (PASSCOMPASS_TRUSTED_HOSTS)"
                await _error(400, "invalid_host", detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _netloc(origin: str) -> str:
    parts = urlsplit(origin)
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


class SameOrigin:
    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            allowed = {_netloc(o) for o in split_list(self.settings().cors_origins)} | {headers.get("host", "").lower()}
            if origin is not None:
                # Behind a proxy ending TLS the scheme seen here differs from the browser's: compare host and port.
                cross = origin == "null" or _netloc(origin) not in allowed
            else:
                cross = headers.get("sec-fetch-site") == "cross-site"
            if cross:
                detail = "a change from a page of another site is refused (its Origin is not this platform's)"
                await _error(403, "cross_origin", detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


class CredentialFirst:
    """A change under ``/api/`` without any credential (no ``Authorization`` header, no session cookie) gets
    ``401`` before its body is read: an anonymous client cannot make the server take in a large upload."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app, self.cookie = app, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and scope["path"].startswith("/api/"):
            headers = Headers(scope=scope)
            cookies = headers.get("cookie", "")
            if not headers.get("authorization") and f"{self.cookie}=" not in cookies:
                response = _error(401, "unauthenticated", "sign in first: send a token (Authorization: Bearer ...)")
                response.headers["WWW-Authenticate"] = 'Bearer realm="passcompass"'
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
