"""The home page (``/``): the courses of the current period with their latest report, and a CSV upload form.

An instructor or viewer sees the courses granted to them; download links show for the roles that may download,
the upload form for those that may upload. ``/?token=...`` (the one-time link ``passcompass run`` prints; never an
API token) signs in and comes back without the token.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from passcompass_api.deps import EngineDep, IdOrBlankQuery, SettingsDep
from passcompass_api.web.admin_common import admin_links
from passcompass_api.web.gate import signed_in
from passcompass_api.web.home_view import build_page
from passcompass_api.web.legend import legend
from passcompass_api.web.render import render
from passcompass_api.web.session import root_of, signed_in_redirect, signin_page, spend_link_token, token_session
from passcompass_assets.core.access.roles import INSTRUCTOR, UPLOADER, VIEWER

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse, response_model=None)
async def index(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    period_id: IdOrBlankQuery = None,
    token: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    root = root_of(request)
    if token is not None:
        # A sign-in link: spend its token, then the same page without it (it must not stay in the address bar).
        info = await run_in_threadpool(spend_link_token, engine, token)
        if info is None:
            error = "That sign-in link is not valid any more (each works once): sign in with a token instead."
            return signin_page(request, settings, error=error, status=401)
        target = "/" + (f"?{urlencode({'period_id': period_id})}" if period_id else "")
        return await signed_in_redirect(request, settings, engine, token_session(settings, info), target)
    principal = await signed_in(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    view = await run_in_threadpool(
        build_page, engine, date.today(), period_id, root + "/api/v1/reports", principal, settings.resolved_home
    )
    context = {
        "view": view,
        "legend": legend(settings),
        "upload_url": root + "/api/v1/uploads",
        "courses_url": root + "/courses/",
        "signout_url": root + "/signout",
        "who": principal.label,
        "csrf": principal.csrf or "",
        "may_upload": principal.has(UPLOADER),
        "may_download": principal.has(INSTRUCTOR, VIEWER),
        "admin_links": admin_links(principal, root),
    }
    return render("index.html", context)
