"""The web page's session: a cookie signed with the platform key (itsdangerous), holding a random session id, who
signed in and the session's CSRF token; nothing about students.

A session counts only while its row in ``web_sessions`` is open: signing out ends it (:func:`end_session`), an admin
ends every session of a principal (:func:`end_sessions`), and revoking a token ends the sessions opened with it, so
a copied or replayed cookie stops working on the server, not only in the browser that signed out. A session opened
with a token also names the token (a revoked or expired one ends it at once); one opened through OpenID Connect
carries the subject's roles and courses, for at most the session's lifetime.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from passcompass_assets.core.access.keys import platform_key
from passcompass_assets.core.access.roles import Principal, parse_role
from passcompass_assets.core.access.tokens import utc
from passcompass_assets.core.db.tables import web_sessions
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


def _new_id() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    kind: Literal["token", "oidc"]
    session_id: str  # random; the server keeps only its SHA-256 (web_sessions)
    csrf: str
    expires_at: float
    token_id: str | None = None
    subject: str | None = None
    roles: tuple[str, ...] = ()
    courses: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_token(cls, token_id: str, lifetime: float) -> Session:
        return cls("token", _new_id(), secrets.token_urlsafe(24), time.time() + lifetime, token_id=token_id)

    @classmethod
    def for_subject(cls, principal: Principal, lifetime: float, not_after: float | None = None) -> Session:
        expires = time.time() + lifetime if not_after is None else min(time.time() + lifetime, not_after)
        return cls(
            "oidc",
            _new_id(),
            secrets.token_urlsafe(24),
            expires,
            subject=principal.id,
            roles=tuple(sorted(principal.roles)),
            courses=tuple(sorted(principal.courses)),
        )

    @property
    def principal_id(self) -> str:
        """Who it belongs to, as the access log names principals: ``token:<id>`` or ``oidc:<subject>``."""
        return f"token:{self.token_id}" if self.kind == "token" else self.subject or "oidc:?"

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
            session_id=str(payload["session_id"]),  # a cookie from before sessions had ids: sign in again
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


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(engine: Engine, session: Session) -> None:
    """Record a new session (and forget the expired ones: an ended session's row is kept only until then)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
        conn.execute(
            web_sessions.insert().values(
                session_sha256=_digest(session.session_id),
                principal=session.principal_id[:200],
                token_id=session.token_id,
                created_at=now,
                expires_at=datetime.fromtimestamp(session.expires_at, UTC),
            )
        )


def session_open(engine: Engine, session: Session) -> bool:
    """Whether the server still holds ``session`` open: recorded, not ended, not expired."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(web_sessions.c.expires_at, web_sessions.c.ended_at).where(
                web_sessions.c.session_sha256 == _digest(session.session_id)
            )
        ).first()
    if row is None or row.ended_at is not None:
        return False
    expires = utc(row.expires_at)
    return expires is not None and expires > datetime.now(UTC)


def end_session(engine: Engine, session: Session) -> bool:
    """End one session (signing out); False if it was not open."""
    with engine.begin() as conn:
        result = conn.execute(
            web_sessions.update()
            .where(web_sessions.c.session_sha256 == _digest(session.session_id), web_sessions.c.ended_at.is_(None))
            .values(ended_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def end_sessions(engine: Engine, principal: str) -> int:
    """End every open session of ``principal`` (``token:<id>`` or ``oidc:<subject>``); how many were open."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            web_sessions.update()
            .where(
                web_sessions.c.principal == principal,
                web_sessions.c.ended_at.is_(None),
                web_sessions.c.expires_at > now,
            )
            .values(ended_at=now)
        )
    return int(result.rowcount or 0)
