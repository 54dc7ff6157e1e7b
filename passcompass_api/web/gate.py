"""The one check in front of every page: a signed-in principal with a PassCompass role.

Without a credential the browser goes to ``/signin`` (and comes back to the same page after); a principal without
any role gets the sign-in page with :data:`NO_ROLE` (403).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine

from passcompass_api.security import optional_principal
from passcompass_api.web.session import root_of, signin_page
from passcompass_assets.core.access.roles import Principal
from passcompass_assets.core.settings import Settings

NO_ROLE = "Your account has no PassCompass role; ask an administrator for one."


def signin_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, which comes back here (path and query) once signed in."""
    root = root_of(request)
    target = request.url.path.removeprefix(root) + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{root}/signin?{urlencode({'next': target})}", status_code=303)


def no_role(request: Request, settings: Settings) -> Response:
    return signin_page(request, settings, error=NO_ROLE, status=403)


async def signed_in(request: Request, settings: Settings, engine: Engine) -> Principal | Response:
    """The page's principal (the session's, or a bearer token's), or the response instead of the page."""
    principal = await run_in_threadpool(optional_principal, request, settings, engine)
    if principal is None:
        return signin_redirect(request)
    if not principal.roles:
        return no_role(request, settings)
    return principal
