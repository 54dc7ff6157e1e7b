"""The FastAPI application: routers, and one JSON error shape ``{error, detail, problems}`` for every failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passcompass_api.guards import CredentialFirst, SameOrigin, SecurityHeaders, TrustedHosts
from passcompass_api.routers import (
    actions,
    admin,
    auth,
    catalog,
    courses,
    docs,
    evaluations,
    health,
    models,
    pages,
    periods,
    predict,
    reports,
    uploads,
)
from passcompass_assets.core.access.oidc import split_list
from passcompass_assets.core.access.sessions import SESSION_COOKIE
from passcompass_assets.core.errors import Problem, Rejected, field_problem
from passcompass_assets.core.logs import configure_json_logging
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.api")
# Room for the multipart envelope and form fields around a file of exactly the upload limit.
MULTIPART_OVERHEAD = 1024 * 1024


def _error(status: int, error: str, detail: str, problems: list[Problem] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=Rejected(status, error, detail, problems or []).as_dict())


def _field_name(location: tuple[object, ...]) -> str | None:
    names = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(names) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        log.info("request refused", extra={"error": exc.error, "status": exc.status, "problems": len(exc.problems)})
        headers = getattr(exc, "headers", None)  # security.Refused: WWW-Authenticate, Retry-After
        return JSONResponse(status_code=exc.status, content=exc.as_dict(), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [field_problem(e, _field_name(tuple(e.get("loc", ())))) for e in exc.errors()]
        return _error(422, "invalid_request", "the request is missing a field or has an invalid one", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return _error(503, "database_unavailable", "the database is not answering; try again shortly")


def install_request_log(app: FastAPI) -> None:
    """One JSON line per request: method, route (its template, never the path's values), status, duration and
    who asked. Never query values or bodies."""

    @app.middleware("http")
    async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
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
            await _error(422, "invalid_request", "the URL contains a NUL character", [problem])(scope, receive, send)
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
            await _error(413, "too_large", detail)(scope, receive, send)
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_dirs()
    configure_json_logging()
    app = FastAPI(
        title="PassCompass API",
        version="1",
        description=(
            "Upload student data and final grades; download early-warning reports per course. Every route but "
            "`GET /api/v1/health` needs a credential: a token (`Authorization: Bearer ...`, from `passcompass token "
            "create`, or an OpenID Connect access token), or the web page's session."
        ),
        # Served by routers.docs: Swagger UI from the platform itself, behind sign-in; no ReDoc.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings

    def current_settings() -> Settings:
        return app.state.settings

    install_error_handlers(app)
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
    install_request_log(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHosts, settings=current_settings)  # outermost: an unknown Host gets nothing else
    app.include_router(health.router)
    app.include_router(uploads.router)
    app.include_router(periods.router)
    app.include_router(courses.router)
    app.include_router(catalog.router)
    app.include_router(predict.router)
    app.include_router(models.router)
    app.include_router(reports.router)
    app.include_router(evaluations.router)
    app.include_router(actions.router)
    app.include_router(admin.router)
    app.include_router(docs.router)
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.mount(docs.ASSETS, docs.swagger_assets(), name="docs-assets")
    return app
