"""Every ASGI middleware in front of the routes, and the order :func:`install` stacks them in.

From the outside in:

- :class:`TrustedHosts`: a request whose ``Host`` is not in ``PASSCOMPASS_TRUSTED_HOSTS`` gets ``400`` (DNS
  rebinding, host-header injection).
- :class:`SecurityHeaders`: ``nosniff``, a Referer for the platform's own pages only (a sign-in link's token never
  leaves in one; ``no-referrer`` would make browsers send ``Origin: null`` with the page's own form posts), no
  framing, on every answer.
- :func:`log_request`: one JSON line per request.
- CORS, closed unless ``PASSCOMPASS_CORS_ORIGINS`` names origins.
- :class:`SameOrigin`: a request that changes something (POST, PUT, PATCH, DELETE) from a browser page of another
  origin gets ``403``: its ``Origin`` (or, without one, ``Sec-Fetch-Site: cross-site``) must be the platform's own
  or one of ``PASSCOMPASS_CORS_ORIGINS``. With the session cookie's CSRF token this makes cross-site form posts
  fail twice over.
- :class:`CredentialFirst`: a change under ``/api/`` without any credential gets ``401`` before its body is read.
- :class:`RejectNul`: a URL with a NUL character gets ``422``.
- :class:`BodyLimit`: a body past the upload limit gets ``413`` while it arrives.

Each reads the app's settings per request, and answers in the API's error shape (:func:`error_response`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passcompass_api.security import SAFE_METHODS, unauthenticated
from passcompass_assets.core.access.oidc import split_list
from passcompass_assets.core.access.sessions import SESSION_COOKIE
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.api")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Room for the multipart envelope and form fields around a file of exactly the upload limit.
MULTIPART_OVERHEAD = 1024 * 1024


def error_response(status: int, error: str, detail: str, problems: list[Problem] | None = None) -> JSONResponse:
    """The API's error answer, ``{error, detail, problems}``."""
    return JSONResponse(status_code=status, content=Rejected(status, error, detail, problems or []).as_dict())


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
                await error_response(400, "invalid_host", detail)(scope, receive, send)
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
                await error_response(403, "cross_origin", detail)(scope, receive, send)
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
                refused = unauthenticated()
                response = JSONResponse(refused.as_dict(), refused.status, headers=refused.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """One JSON line per request: method, route (its template, never the path's values), status, duration and
    who asked. Never query values or bodies."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    principal = getattr(request.state, "principal", None)
    log.info(
        "request",
        extra={
            "method": request.method,
            "route": getattr(route, "path", "unmatched"),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "principal": getattr(principal, "id", None),
        },
    )
    return response


class RejectNul:
    """Answer 422 to a URL holding a NUL character: no id contains one, and PostgreSQL cannot even compare it
    (its driver raises before the query is sent, which would otherwise be a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            problem = Problem("NUL characters are not allowed in the URL")
            await error_response(422, "invalid_request", "the URL contains a NUL character", [problem])(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a request body past the upload limit (plus the multipart envelope) while it arrives, or at once when
    its Content-Length says so. Without it the multipart parser spools a whole 2 GB body to disk before the upload
    route gets to count the file's bytes. The limit is read per request from the app's settings."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload_limit = self.owner.state.settings.max_upload_bytes
        limit = upload_limit + MULTIPART_OVERHEAD
        detail = f"the request is larger than the upload limit of {upload_limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, "too_large", detail)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the route's body parsing, which re-raises HTTP errors to our handler (413 JSON).
                raise StarletteHTTPException(413, detail)
            return message

        await self.app(scope, counting_receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Stack the middlewares: the last added is the outermost."""

    def current_settings() -> Settings:
        return app.state.settings

    # Inside the request log: raised from the route's own receive call, the 413 reaches our handler unwrapped.
    app.add_middleware(BodyLimit, owner=app)
    app.add_middleware(RejectNul)
    app.add_middleware(CredentialFirst, cookie=SESSION_COOKIE)
    app.add_middleware(SameOrigin, settings=current_settings)
    if origins := split_list(settings.cors_origins):  # closed unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BaseHTTPMiddleware, dispatch=log_request)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHosts, settings=current_settings)  # outermost: an unknown Host gets nothing else
