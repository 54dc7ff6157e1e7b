"""The one check in front of every page: a signed-in principal with a PassCompass role.

Without a credential the browser goes to ``/signin`` (and comes back to the same page after); a principal without
any role gets the sign-in page with :data:`NO_ROLE` (403). A page's form (POST) goes through
:func:`signed_in_form`, which reads the CSRF token from the form itself.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from passcompass_api.security import Refused, optional_principal
from passcompass_api.web.session import root_of, signin_page
from passcompass_assets.core.access.roles import Principal
from passcompass_assets.core.access.sessions import SESSION_COOKIE
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


SIGN_IN_FIRST = "Sign in first; then send the form again."
FORM_EXPIRED = (
    "This form was not sent from PassCompass's own page, or the page is out of date: reload it and try again."
)


async def signed_in_form(request: Request, settings: Settings, engine: Engine) -> tuple[Principal, FormData] | Response:
    """A page's form sent (POST) without JavaScript: its fields and the principal, whose session must have sent
    its CSRF token in the form's ``csrf_token`` field; else the response instead: 401 with the sign-in page for
    no credential, 403 for a missing or wrong CSRF token, 400 for a form that cannot be read."""
    if not request.headers.get("authorization") and SESSION_COOKIE not in request.cookies:
        return signin_page(request, settings, error=SIGN_IN_FIRST, status=401)  # before the body is read
    try:
        form = await request.form(max_files=1, max_fields=40)
    except (HTTPException, ValueError, KeyError):
        return signin_page(request, settings, error="The form could not be read: send it again.", status=400)
    csrf = form.get("csrf_token")
    try:
        principal = await run_in_threadpool(
            optional_principal, request, settings, engine, csrf if isinstance(csrf, str) else ""
        )
    except Refused as refusal:
        if refusal.error == "csrf":
            return signin_page(request, settings, error=FORM_EXPIRED, status=403)
        raise
    if principal is None:
        return signin_page(request, settings, error=SIGN_IN_FIRST, status=401)
    if not principal.roles:
        return no_role(request, settings)
    return principal, form
