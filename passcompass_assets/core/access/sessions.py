"""The web page's session: a cookie signed with the platform key (itsdangerous), holding who signed in and the
session's CSRF token; nothing about students.

A session opened with a token names the token (revoking it ends the session at once); one opened through OpenID
Connect carries the subject's roles and courses, for at most the session's lifetime.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

from passcompass_assets.core.access.keys import platform_key
from passcompass_assets.core.access.roles import Principal, parse_role
from passcompass_assets.core.settings import Settings

SESSION_COOKIE = "passcompass_session"
SIGNIN_COOKIE = "passcompass_signin"  # the OIDC sign-in under way: state, nonce, PKCE verifier (10 minutes)
SIGNIN_SECONDS = 600


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(platform_key(settings), salt=salt)


def seal(settings: Settings, salt: str, payload: Mapping[str, object]) -> str:
    return _serializer(settings, salt).dumps(dict(payload))


def unseal(settings: Settings, salt: str, value: str, max_age: float) -> dict[str, object] | None:
    try:
        payload = _serializer(settings, salt).loads(value, max_age=int(max_age))
    except (BadSignature, ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True)
class Session:
    kind: Literal["token", "oidc"]
    csrf: str
    expires_at: float
    token_id: str | None = None
    subject: str | None = None
    roles: tuple[str, ...] = ()
    courses: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_token(cls, token_id: str, lifetime: float) -> Session:
        return cls("token", secrets.token_urlsafe(24), time.time() + lifetime, token_id=token_id)

    @classmethod
    def for_subject(cls, principal: Principal, lifetime: float, not_after: float | None = None) -> Session:
        expires = time.time() + lifetime if not_after is None else min(time.time() + lifetime, not_after)
        return cls(
            "oidc",
            secrets.token_urlsafe(24),
            expires,
            subject=principal.id,
            roles=tuple(sorted(principal.roles)),
            courses=tuple(sorted(principal.courses)),
        )

    def subject_principal(self) -> Principal:
        roles = frozenset(parse_role(r) for r in self.roles)
        return Principal(self.subject or "oidc:?", roles, frozenset(self.courses), via="session", csrf=self.csrf)


def encode_session(settings: Settings, session: Session) -> str:
    return seal(settings, "passcompass-session", asdict(session))


def decode_session(settings: Settings, value: str) -> Session | None:
    payload = unseal(settings, "passcompass-session", value, settings.session_hours * 3600)
    if payload is None:
        return None
    try:
        session = Session(
            kind="oidc" if payload["kind"] == "oidc" else "token",
            csrf=str(payload["csrf"]),
            expires_at=float(str(payload["expires_at"])),
            token_id=str(payload["token_id"]) if payload.get("token_id") else None,
            subject=str(payload["subject"]) if payload.get("subject") else None,
            roles=tuple(str(r) for r in _list(payload.get("roles"))),
            courses=tuple(str(c) for c in _list(payload.get("courses"))),
        )
        if session.kind == "oidc":
            session.subject_principal()  # every role known
    except (KeyError, ValueError, TypeError):
        return None
    return session if session.expires_at > time.time() else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []
