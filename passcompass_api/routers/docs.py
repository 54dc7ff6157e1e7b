"""The OpenAPI document and its Swagger UI page, served from the platform itself (no CDN).

Swagger UI's files come from the pinned ``fastapi-offline`` package (its ``static`` folder), mounted at
``/static/docs``; the page has no inline script (its start-up script is ``/docs/init.js``), under a
Content-Security-Policy that names no other host. Both the page and ``/openapi.json`` need a signed-in
principal; ReDoc is not served.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import escape

from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.security import optional_principal, require
from passcompass_assets.core.errors import Rejected

router = APIRouter(include_in_schema=False)
ASSETS = "/static/docs"
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
INIT_JS = """\
"use strict";
window.addEventListener("load", () => {
  const element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>PassCompass API</title>
<link rel="icon" type="image/png" href="{root}{assets}/favicon.png">
<link rel="stylesheet" href="{root}{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}/openapi.json"></div>
<script src="{root}{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js"></script>
</body>
</html>
"""


def swagger_assets() -> StaticFiles:
    return StaticFiles(directory=Path(str(resources.files("fastapi_offline") / "static")))


@router.get("/openapi.json", dependencies=[Depends(require())])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_model=None)
async def swagger_ui(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
) -> Response:
    root = str(escape(request.scope.get("root_path", "")))
    principal = await run_in_threadpool(optional_principal, request, settings, engine)
    if principal is None:
        return RedirectResponse(f"{root}/signin?{urlencode({'next': '/docs'})}", status_code=303)
    if not principal.roles:
        return JSONResponse(Rejected(403, "forbidden", "the credential has no PassCompass role").as_dict(), 403)
    html = PAGE.format(root=root, assets=ASSETS)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-store"})


@router.get("/docs/init.js")
def swagger_init() -> Response:
    return Response(INIT_JS, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
