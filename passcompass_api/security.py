"""Who is asking, and may they: the API's permission dependencies.

Every route but ``GET /api/v1/health`` (and the sign-in pages) takes one of these as a dependency; a route
without one is refused by ``tests/test_access_routes.py``, which walks every route of ``/openapi.json``.

- :func:`authenticate`: any valid credential, or ``401``. A credential is a bearer API token
  (``Authorization: Bearer pc_...``), a bearer OpenID Connect JWT (when ``PASSCOMPASS_OIDC_ISSUER`` is set), or
  the web page's session cookie (of a session the server has not ended: sign-out, an admin and a token's
  revocation end them); with the cookie, a request that changes something (POST, PUT, DELETE) must also
  send the session's CSRF token in ``X-CSRF-Token`` (the pages' own forms, which work without JavaScript, send
  it as the form field ``csrf_token`` instead: :func:`optional_principal` with ``form_csrf``).
- :func:`require`\\ ``(*roles)``: signed in with one of ``roles`` (an admin has every role), or ``403``.
- :func:`require_course`\\ ``(*roles, param="course_id")``: and the course named by the query or path parameter
  ``param`` is granted to the principal, or ``403``.
- :func:`require_report`\\ ``(*roles)``: and the report named by the path parameter ``report_id`` belongs to a
  granted course (looked up through the report store: ``404`` when there is no such report); gives the
  principal and the report's record.
- :func:`limited`\\ ``(bucket, *roles, course_param=None)``: :func:`require` (or :func:`require_course`) plus a
  per-principal rate limit (``429`` with ``Retry-After``); ``bucket`` names the setting
  (:data:`RATE_SETTINGS`).

Use them as the type of a parameter, which also hands the route the :class:`Principal` for the access log::

    @router.post("/predict")
    def predict(
        principal: Annotated[Principal, Depends(require_course(INSTRUCTOR))],
        engine: EngineDep,
        course_id: IdQuery,
    ) -> ...:
        ...
        record_access(engine, principal, PREDICTION, f"course:{course_id}", course_id)

The checks are pure functions of the principal (``Principal.has``, ``Principal.may_see``), so core code can
apply the same rules (the page filters its courses with them).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations at run time, and
# those of the closures below name local variables (the role check each one wraps).
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.schemas import ErrorOut
from passcompass_assets.core.access.oidc import OidcConfig, OidcError, principal_from_claims, verify_jwt
from passcompass_assets.core.access.ratelimit import RateLimiter
from passcompass_assets.core.access.roles import ROLES, Principal, Role
from passcompass_assets.core.access.sessions import SESSION_COOKIE, decode_session, session_open
from passcompass_assets.core.access.tokens import looks_like_token, session_token, verify_token
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.reports.store import ReportRecord, get_report
from passcompass_assets.core.settings import Settings

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
# Rate-limit buckets and the setting that holds each one's requests per minute.
RATE_SETTINGS: Final = {
    "uploads": "upload_rate_per_minute",
    "report_requests": "report_request_rate_per_minute",
    "predictions": "predict_rate_per_minute",
}

# What every protected route may answer besides its own responses (merged into each router's OpenAPI).
AUTH_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorOut, "description": "no valid credential"},
    403: {"model": ErrorOut, "description": "the credential's role or courses do not cover this"},
}
RATE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    429: {"model": ErrorOut, "description": "rate limit reached; see Retry-After"},
}

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A PassCompass API token (`passcompass token create`), or an OpenID Connect access token.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The web page's session (sign in at `/signin`); changes also need the `X-CSRF-Token` header.",
)


class Refused(Rejected):
    """A refusal with response headers (``WWW-Authenticate``, ``Retry-After``)."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, error, detail)
        self.headers = headers or {}


def unauthenticated(detail: str = "sign in first: send a token (Authorization: Bearer ...)") -> Refused:
    return Refused(401, "unauthenticated", detail, {"WWW-Authenticate": 'Bearer realm="passcompass"'})


def forbidden(detail: str, error: str = "forbidden") -> Refused:
    return Refused(403, error, detail)


def _from_bearer(token: str, settings: Settings, engine: Engine) -> Principal:
    if looks_like_token(token):
        info = verify_token(engine, token)
        if info is None:
            raise unauthenticated("the token is unknown, revoked or expired")
        return info.principal
    config = OidcConfig.from_settings(settings)
    if config is None:
        raise unauthenticated("the token is not a PassCompass token, and no OpenID Connect issuer is configured")
    try:
        claims = verify_jwt(config, token)
    except OidcError as exc:
        raise unauthenticated(str(exc)) from exc
    return principal_from_claims(config, claims)


def _from_session(request: Request, cookie: str, settings: Settings, engine: Engine, form_csrf: str = "") -> Principal:
    session = decode_session(settings, cookie)
    if session is None or not session_open(engine, session):
        raise unauthenticated("the session has ended: sign in again")
    if session.kind == "token":
        info = session_token(engine, session.token_id or "")
        if info is None:
            raise unauthenticated("the session's token was revoked or has expired: sign in again")
        principal = Principal(info.principal.id, info.principal.roles, info.principal.courses, "session", session.csrf)
    else:
        principal = session.subject_principal()
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "") or form_csrf
        if not sent or not hmac.compare_digest(sent, session.csrf):
            raise forbidden("a change made with the page's session needs its CSRF token (X-CSRF-Token)", "csrf")
    return principal


def authenticate(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """The principal behind the request's credential (a bearer token wins over the session cookie), or 401."""
    return _principal(request, settings, engine, bearer, cookie)


def _principal(
    request: Request,
    settings: Settings,
    engine: Engine,
    bearer: HTTPAuthorizationCredentials | None,
    cookie: str | None,
    form_csrf: str = "",
) -> Principal:
    if bearer is not None and bearer.credentials:
        principal = _from_bearer(bearer.credentials, settings, engine)
    elif request.headers.get("authorization"):
        raise unauthenticated("only Bearer credentials are accepted")
    elif cookie:
        principal = _from_session(request, cookie, settings, engine, form_csrf)
    else:
        raise unauthenticated()
    request.state.principal = principal
    return principal


def optional_principal(request: Request, settings: Settings, engine: Engine, form_csrf: str = "") -> Principal | None:
    """For the pages: the session's or bearer's principal, or None (never raises for a missing credential).
    ``form_csrf``: the CSRF token a page's form sent as its ``csrf_token`` field (a change without the header)."""
    try:
        return _principal(
            request,
            settings,
            engine,
            _bearer_of(request),
            request.cookies.get(SESSION_COOKIE),
            form_csrf,
        )
    except Refused as refusal:
        if refusal.status == 401:
            return None
        raise


def _bearer_of(request: Request) -> HTTPAuthorizationCredentials | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=value.strip()) if scheme.lower() == "bearer" else None
    )


Authenticated = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """Signed in with one of ``roles`` (an admin qualifies for every one); none given: any role."""
    wanted = roles or ROLES

    def check_role(principal: Authenticated) -> Principal:
        if not principal.has(*wanted):
            held = ", ".join(sorted(principal.roles)) or "no PassCompass role"
            raise forbidden(f"this needs the role {' or '.join(wanted)}; the credential has {held}")
        return principal

    check_role.__name__ = f"require_{'_'.join(wanted)}"
    return check_role


def _course_check(principal: Principal, course_id: str | None) -> None:
    if course_id is not None and not principal.may_see(course_id):
        raise forbidden(f"the course {course_id!r} is not granted to this credential", "course_not_granted")


def require_course(*roles: Role, param: str = "course_id") -> Callable[[Request, Principal], Principal]:
    """:func:`require` and the course named by the query or path parameter ``param`` granted."""
    role_check = require(*roles)

    def check_course(request: Request, principal: Annotated[Principal, Depends(role_check)]) -> Principal:
        _course_check(principal, request.query_params.get(param) or request.path_params.get(param))
        return principal

    return check_course


@dataclass(frozen=True)
class ReportAccess:
    principal: Principal
    record: ReportRecord


def require_report(*roles: Role, param: str = "report_id") -> Callable[[Request, Principal, Engine], ReportAccess]:
    """:func:`require`, then the report named by the path parameter ``param`` (404 if none) of a granted course."""
    role_check = require(*roles)

    def check_report(
        request: Request,
        principal: Annotated[Principal, Depends(role_check)],
        engine: EngineDep,
    ) -> ReportAccess:
        report_id = str(request.path_params.get(param, ""))
        record = get_report(engine, report_id)
        if record is None:
            raise Rejected(404, "not_found", f"no report with id {report_id!r}")
        _course_check(principal, record.course_id)
        return ReportAccess(principal, record)

    return check_report


def limiter_of(request: Request) -> RateLimiter:
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter()
    return limiter


def limited(bucket: str, *roles: Role, course_param: str | None = None) -> Callable[..., Principal]:
    """:func:`require` (or :func:`require_course` with ``course_param``) and at most the bucket's setting of
    requests per minute per principal (``429`` with ``Retry-After`` past it)."""
    setting = RATE_SETTINGS[bucket]
    check = require_course(*roles, param=course_param) if course_param else require(*roles)

    def check_rate(
        request: Request,
        principal: Annotated[Principal, Depends(check)],
        settings: SettingsDep,
    ) -> Principal:
        retry = limiter_of(request).hit(bucket, principal.id, int(getattr(settings, setting)))
        if retry is not None:
            raise Refused(
                429,
                "rate_limited",
                f"too many {bucket.replace('_', ' ')} from this credential: at most {getattr(settings, setting)} "
                f"a minute; try again in {retry} s",
                {"Retry-After": str(retry)},
            )
        return principal

    return check_rate
