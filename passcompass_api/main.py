"""The FastAPI application: routers, and one JSON error shape ``{error, detail, problems}`` for every failure."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from passcompass_api import middleware
from passcompass_api.middleware import error_response
from passcompass_api.routers import (
    actions,
    admin,
    catalog,
    courses,
    docs,
    evaluations,
    health,
    models,
    periods,
    predict,
    reports,
    uploads,
)
from passcompass_api.web import home, signin, workspace
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.logs import configure_json_logging
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.api")


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
        problems = [
            Problem(str(e.get("msg", "invalid")), None, _field_name(tuple(e.get("loc", ())))) for e in exc.errors()
        ]
        detail = "the request is missing a field or has an invalid one"
        return error_response(422, "invalid_request", detail, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return error_response(503, "database_unavailable", "the database is not answering; try again shortly")


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

    install_error_handlers(app)
    middleware.install(app, settings)
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
    app.include_router(signin.router)
    app.include_router(home.router)
    app.include_router(workspace.router)
    app.mount(docs.ASSETS, docs.swagger_assets(), name="docs-assets")
    return app
