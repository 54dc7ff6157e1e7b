"""The FastAPI application: routers, and one JSON error shape ``{error, detail, problems}`` for every failure."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from passcompass_api import middleware
from passcompass_api.middleware import error_response
from passcompass_api.routers import (
    actions,
    activity,
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
    rosters,
    uploads,
)
from passcompass_api.schemas import ErrorOut
from passcompass_api.web import admin as admin_pages
from passcompass_api.web import admin_uploads, home, signin, workspace
from passcompass_assets.core.errors import Rejected, field_problem
from passcompass_assets.core.logs import configure_json_logging
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.api")
INVALID_REQUEST = "the request is missing a field or has an invalid one"
COMPONENTS = "#/components/schemas/"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _field_name(location: tuple[object, ...]) -> str | None:
    names = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(names) or None


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (RFC 9110: a 405 says which), found by asking the
    routes whether they would take the path with each method (included routers keep their routes to themselves)."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def document_error_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the API answers: every refusal (4xx) a route documents is ``ErrorOut``, and every
    route that takes input documents its 422 so; FastAPI's ``HTTPValidationError`` (never answered) is dropped, and
    an optional parameter is its type or absent, never null."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error = ErrorOut.model_json_schema(ref_template=f"{COMPONENTS}{{model}}")
    for name, definition in error.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault("ErrorOut", error)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                _absent_not_null(parameter)
            responses = operation.setdefault("responses", {})
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", {})
            if operation.get("requestBody"):  # FastAPI answers 400 to a body it cannot parse at all
                responses.setdefault(
                    "400", {"description": "the body cannot be read (not JSON, not UTF-8, a broken form)"}
                )
            for status, response in responses.items():
                if status.startswith("4"):
                    if status == "422" and response.get("description", "Validation Error") == "Validation Error":
                        response["description"] = INVALID_REQUEST + ": see problems (column names the field)"
                    response["content"] = {"application/json": {"schema": {"$ref": f"{COMPONENTS}ErrorOut"}}}
    return schema


def _absent_not_null(parameter: dict[str, Any]) -> None:
    """An optional parameter (``str | None``) as it is sent: a URL cannot carry a null, so it is its type or absent
    (FastAPI writes ``anyOf: [type, null]``, which tools then try to send as something else)."""
    schema = parameter.get("schema", {})
    kinds = schema.get("anyOf", [])
    others = [kind for kind in kinds if kind != {"type": "null"}]
    if len(kinds) == 2 and len(others) == 1:
        del schema["anyOf"]
        parameter["schema"] = {**others[0], **schema}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        log.info("request refused", extra={"error": exc.error, "status": exc.status, "problems": len(exc.problems)})
        headers = getattr(exc, "headers", None)  # security.Refused: WWW-Authenticate, Retry-After
        return JSONResponse(status_code=exc.status, content=exc.as_dict(), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [field_problem(e, _field_name(tuple(e.get("loc", ())))) for e in exc.errors()]
        return error_response(422, "invalid_request", INVALID_REQUEST, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; a path may have several
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

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
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return app.openapi_schema or document_error_shape(generate_openapi())

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the document

    install_error_handlers(app)
    middleware.install(app, settings)
    app.include_router(health.router)
    app.include_router(uploads.router)
    app.include_router(activity.router)
    app.include_router(rosters.router)
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
    app.include_router(admin_pages.router)
    app.include_router(admin_uploads.router)
    app.mount(docs.ASSETS, docs.swagger_assets(), name="docs-assets")
    return app
