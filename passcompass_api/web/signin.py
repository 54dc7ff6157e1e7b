"""Signing in to the web pages: with a token (the form takes an API token or a one-time link's; a link
``/?token=...``, see ``home``, only a one-time link's), or through the OpenID Connect provider (authorization code
with PKCE) where one is configured; signing out (which ends the session on the server).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.web.gate import no_role
from passcompass_api.web.session import (
    cookie_secure,
    root_of,
    safe_next,
    signed_in_redirect,
    signin_page,
    spend_form_token,
    token_session,
)
from passcompass_assets.core.access.oidc import (
    OidcConfig,
    OidcError,
    begin_signin,
    finish_signin,
    principal_from_claims,
)
from passcompass_assets.core.access.sessions import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    Session,
    decode_session,
    end_session,
    seal,
    unseal,
)
from passcompass_assets.core.settings import Settings

router = APIRouter(include_in_schema=False)
SIGNIN_SALT = "passcompass-oidc-signin"


@router.get("/signin", response_class=HTMLResponse)
def signin_form(
    request: Request,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    return signin_page(request, settings, next_path=safe_next(next))


@router.post("/signin", response_model=None)
async def signin_with_token(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    token: Annotated[str, Form(max_length=300)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    info = await run_in_threadpool(spend_form_token, engine, token.strip())
    if info is None:
        error = "That token is not valid: it is unknown, revoked, expired, or a sign-in link already used."
        return signin_page(request, settings, error=error, next_path=safe_next(next), status=401)
    return await signed_in_redirect(request, settings, engine, token_session(settings, info), next)


@router.post("/signout", response_model=None)
def signout(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the session on the server (a copy of its cookie no longer signs in), then forget the cookie."""
    session = decode_session(settings, request.cookies.get(SESSION_COOKIE, ""))
    if session is not None:
        if not hmac.compare_digest(csrf_token, session.csrf):
            return signin_page(request, settings, error="Sign-out needs the page's own form.", status=403)
        end_session(engine, session)
    response = RedirectResponse(root_of(request) + "/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=cookie_secure(request, settings), httponly=True)
    return response


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


@router.get("/auth/oidc/start", response_model=None)
async def oidc_start(
    request: Request,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    config = OidcConfig.from_settings(settings)
    if config is None or not config.page_signin:
        return signin_page(request, settings, error="Sign-in through an identity provider is not set up.", status=404)
    try:
        start = await run_in_threadpool(begin_signin, config, _redirect_uri(request, settings))
    except OidcError as exc:
        return signin_page(request, settings, error=f"The identity provider is not reachable: {exc}", status=502)
    response = RedirectResponse(start.url, status_code=302, headers={"Cache-Control": "no-store"})
    pending = {"state": start.state, "nonce": start.nonce, "verifier": start.verifier, "next": safe_next(next)}
    response.set_cookie(
        SIGNIN_COOKIE,
        seal(settings, SIGNIN_SALT, pending),
        max_age=SIGNIN_SECONDS,
        path="/auth/oidc",
        secure=cookie_secure(request, settings),
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level navigation from its site
    )
    return response


@router.get("/auth/oidc/callback", name="oidc_callback", response_model=None)
async def oidc_callback(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    state: Annotated[str | None, Query(max_length=400)] = None,
    error: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    config = OidcConfig.from_settings(settings)
    pending = unseal(settings, SIGNIN_SALT, request.cookies.get(SIGNIN_COOKIE, ""), SIGNIN_SECONDS)
    if config is None or pending is None or not state or not hmac.compare_digest(state, str(pending.get("state"))):
        return signin_page(request, settings, error="The sign-in expired or did not start here; try again.", status=400)
    if error or not code:
        return signin_page(request, settings, error="The identity provider did not sign you in.", status=401)
    try:
        verifier, nonce = str(pending["verifier"]), str(pending["nonce"])
        claims = await run_in_threadpool(finish_signin, config, _redirect_uri(request, settings), code, verifier, nonce)
    except OidcError as exc:
        return signin_page(request, settings, error=f"The sign-in failed: {exc}", status=401)
    principal = principal_from_claims(config, claims)
    if not principal.roles:
        return no_role(request, settings)
    session = Session.for_subject(principal, settings.session_hours * 3600)
    response = await signed_in_redirect(request, settings, engine, session, str(pending.get("next") or "/"))
    response.delete_cookie(SIGNIN_COOKIE, path="/auth/oidc")
    return response
