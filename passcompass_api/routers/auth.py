"""Signing in to the web page: with a token (a form, or a one-time link ``/?token=...``), or through the OpenID
Connect provider (authorization code with PKCE) where one is configured; signing out.

The session is a signed, HTTP-only, SameSite=Lax cookie (Secure over HTTPS); the token itself never goes into
it, nor into a log or a Referer: the link's token is spent and the browser redirected to the page without it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine

from passcompass_api.deps import EngineDep, SettingsDep
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
    encode_session,
    seal,
    unseal,
)
from passcompass_assets.core.access.tokens import TokenInfo, looks_like_token, use_signin_link, verify_token
from passcompass_assets.core.settings import Settings

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("passcompass_api", "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
)
SIGNIN_SALT = "passcompass-oidc-signin"
PAGE_POLICY = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def cookie_secure(request: Request, settings: Settings) -> bool:
    return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"


def set_session(response: Response, request: Request, settings: Settings, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        encode_session(settings, session),
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=cookie_secure(request, settings),
        httponly=True,
        samesite="lax",
    )


def token_session(settings: Settings, info: TokenInfo) -> Session:
    return Session.for_token(info.token_id, settings.session_hours * 3600)


def signin_page(
    request: Request, settings: Settings, *, error: str | None = None, next_path: str = "/", status: int = 200
) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    config = OidcConfig.from_settings(settings)
    nonce = secrets.token_urlsafe(16)
    html = templates.get_template("signin.html").render(
        nonce=nonce,
        error=error,
        next_path=next_path,
        action=root + "/signin",
        oidc_url=root + "/auth/oidc/start?" + urlencode({"next": next_path}) if config and config.page_signin else None,
    )
    headers = {"Content-Security-Policy": PAGE_POLICY.format(nonce=nonce), "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)


def signed_in_redirect(request: Request, settings: Settings, session: Session, target: str) -> RedirectResponse:
    root = request.scope.get("root_path", "")
    response = RedirectResponse(root + safe_next(target), status_code=303, headers={"Cache-Control": "no-store"})
    set_session(response, request, settings, session)
    return response


def spend_link_token(engine: Engine, token: str) -> TokenInfo | None:
    """A token from a sign-in link: a one-time sign-in link (spent now), or an API token."""
    if not looks_like_token(token):
        return None
    return use_signin_link(engine, token) or verify_token(engine, token)


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
    info = await run_in_threadpool(spend_link_token, engine, token.strip())
    if info is None:
        error = "That token is not valid: it is unknown, revoked, expired, or a sign-in link already used."
        return signin_page(request, settings, error=error, next_path=safe_next(next), status=401)
    return signed_in_redirect(request, settings, token_session(settings, info), next)


@router.post("/signout", response_model=None)
def signout(
    request: Request,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    session = decode_session(settings, request.cookies.get(SESSION_COOKIE, ""))
    if session is not None and not hmac.compare_digest(csrf_token, session.csrf):
        return signin_page(request, settings, error="Sign-out needs the page's own form.", status=403)
    root = request.scope.get("root_path", "")
    response = RedirectResponse(root + "/signin", status_code=303)
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
        message = "Your account has no PassCompass role; ask an administrator for one."
        return signin_page(request, settings, error=message, status=403)
    session = Session.for_subject(principal, settings.session_hours * 3600)
    response = signed_in_redirect(request, settings, session, str(pending.get("next") or "/"))
    response.delete_cookie(SIGNIN_COOKIE, path="/auth/oidc")
    return response
