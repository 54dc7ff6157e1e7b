"""The OpenAPI document and its Swagger UI page, served from the platform itself (no CDN).

Swagger UI's files come from the pinned ``fastapi-offline`` package (its ``static`` folder), mounted at
``/static/docs``; the page has no inline script (its start-up script is ``/docs/init.js``), under a
Content-Security-Policy that names no other host (its own: Swagger UI's scripts are files, not the nonce'd inline
script of the other pages). The page is behind the pages' gate, ``/openapi.json`` behind a role; ReDoc is not
served.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import escape

from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.security import require
from passcompass_api.web.gate import signed_in
from passcompass_api.web.session import root_of

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
    principal = await signed_in(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    html = PAGE.format(root=escape(root_of(request)), assets=ASSETS)
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-store"})


@router.get("/docs/init.js")
def swagger_init() -> Response:
    return Response(INIT_JS, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
