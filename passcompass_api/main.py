"""The FastAPI application: routers, and one JSON error shape ``{error, detail, problems}`` for every failure."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from passcompass_api.routers import health, pages, periods, reports, uploads
from passcompass_assets.core.errors import Problem, UploadRejected
from passcompass_assets.core.logs import configure_json_logging
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.api")


def _error(status: int, error: str, detail: str, problems: list[Problem] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=UploadRejected(status, error, detail, problems or []).as_dict())


def _field_name(location: tuple[object, ...]) -> str | None:
    names = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(names) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UploadRejected)
    async def rejected(_: Request, exc: UploadRejected) -> JSONResponse:
        log.info("upload rejected", extra={"error": exc.error, "status": exc.status, "problems": len(exc.problems)})
        return JSONResponse(status_code=exc.status, content=exc.as_dict())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(str(e.get("msg", "invalid")), None, _field_name(tuple(e.get("loc", ())))) for e in exc.errors()
        ]
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
    """One JSON line per request: method, route, status, duration. Never query values or bodies."""

    @app.middleware("http")
    async def log_request(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": getattr(route, "path", "unmatched"),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_dirs()
    configure_json_logging()
    app = FastAPI(
        title="PassCompass API",
        version="1",
        description="Upload student data and final grades; download early-warning reports per course.",
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_request_log(app)
    app.include_router(health.router)
    app.include_router(uploads.router)
    app.include_router(periods.router)
    app.include_router(reports.router)
    app.include_router(pages.router)
    return app
