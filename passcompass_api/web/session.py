"""The browser's session: the signed cookie, signing in with a token or a one-time link, and the sign-in page.

The session is a signed, HTTP-only, SameSite=Lax cookie (Secure over HTTPS) naming a session the server records
(and ends on sign-out); the token itself never goes into it, nor into a log or a Referer: a link's token is spent
and the browser redirected to the page without it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

from passcompass_api.web.render import render
from passcompass_assets.core.access.oidc import OidcConfig
from passcompass_assets.core.access.sessions import SESSION_COOKIE, Session, encode_session, open_session
from passcompass_assets.core.access.tokens import TokenInfo, looks_like_token, use_signin_link, verify_token
from passcompass_assets.core.settings import Settings


def root_of(request: Request) -> str:
    """The path the app is served under (behind a proxy), which every link of a page starts with."""
    return str(request.scope.get("root_path", ""))


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


def spend_link_token(engine: Engine, token: str) -> TokenInfo | None:
    """The token of a sign-in link (``/?token=``): a one-time sign-in link, spent now. Never an API token: a link
    carrying one would sign a victim in as whoever made it, and long-lived tokens do not belong in URLs."""
    return use_signin_link(engine, token) if looks_like_token(token) else None


def spend_form_token(engine: Engine, token: str) -> TokenInfo | None:
    """A token typed into the sign-in form: a one-time sign-in link (spent now), or an API token."""
    return spend_link_token(engine, token) or (verify_token(engine, token) if looks_like_token(token) else None)


async def signed_in_redirect(
    request: Request, settings: Settings, engine: Engine, session: Session, target: str
) -> RedirectResponse:
    """Record ``session`` on the server, then to ``target`` (a path of this site) with the session's cookie set."""
    await run_in_threadpool(open_session, engine, session)
    response = RedirectResponse(
        root_of(request) + safe_next(target), status_code=303, headers={"Cache-Control": "no-store"}
    )
    set_session(response, request, settings, session)
    return response


def signin_page(
    request: Request, settings: Settings, *, error: str | None = None, next_path: str = "/", status: int = 200
) -> HTMLResponse:
    root = root_of(request)
    config = OidcConfig.from_settings(settings)
    oidc_start = root + "/auth/oidc/start?" + urlencode({"next": next_path})
    context = {
        "error": error,
        "next_path": next_path,
        "action": root + "/signin",
        "oidc_url": oidc_start if config and config.page_signin else None,
    }
    return render("signin.html", context, status)
