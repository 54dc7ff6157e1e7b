"""API tokens and one-time sign-in links: ``pc_<token_id>_<secret>``, shown once, stored only as a hash.

The secret is 32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 of it is enough to store (no slow
password hash is needed for a high-entropy secret); it is compared in constant time. ``token_id`` is the public
part: tokens are listed, revoked and named in the access log by it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.access.roles import ADMIN, ALL_COURSES, COURSE_SCOPED, Principal, Role, parse_role
from passcompass_assets.core.db.tables import access_log, api_tokens, web_sessions
from passcompass_assets.core.db.timestamps import utc

PREFIX = "pc"
TokenKind = Literal["api", "signin"]
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    kind: TokenKind
    role: Role
    courses: tuple[str, ...]
    label: str | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    used_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at:
            return "revoked"
        if self.kind == "signin" and self.used_at:
            return "used"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"

    @property
    def principal(self) -> Principal:
        return Principal(f"token:{self.token_id}", frozenset({self.role}), frozenset(self.courses), via="token")

    def as_dict(self) -> dict[str, object]:
        return {
            "token_id": self.token_id,
            "kind": self.kind,
            "role": self.role,
            "courses": list(self.courses),
            "label": self.label,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "created_by": self.created_by,
            "expires_at": self.expires_at.isoformat(timespec="seconds") if self.expires_at else None,
            "status": self.status(),
        }


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is shown once and never stored."""

    token: str
    info: TokenInfo


def _info(row: sa.Row) -> TokenInfo:
    created = utc(row.created_at)
    assert created is not None
    return TokenInfo(
        token_id=row.token_id,
        kind="signin" if row.kind == "signin" else "api",
        role=parse_role(row.role),
        courses=tuple(row.courses or ()),
        label=row.label,
        created_at=created,
        created_by=row.created_by,
        expires_at=utc(row.expires_at),
        revoked_at=utc(row.revoked_at),
        used_at=utc(row.used_at),
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_grant(role: Role, courses: Iterable[str]) -> tuple[str, ...]:
    """The courses a token of ``role`` may carry: instructors and viewers need at least one (``*``: all), admins
    and uploaders none (they are platform-wide)."""
    granted = tuple(dict.fromkeys(c.strip() for c in courses if c.strip()))
    if role in COURSE_SCOPED and not granted:
        raise ValueError(f"a {role} token needs at least one --course (or --course '{ALL_COURSES}' for every course)")
    if role not in COURSE_SCOPED and granted:
        raise ValueError(f"courses apply to instructor and viewer tokens; a {role} token is platform-wide")
    if any(len(c) > 128 for c in granted):
        raise ValueError("a course id is at most 128 characters")
    return granted


def create_token(
    engine: Engine,
    role: Role,
    courses: Iterable[str] = (),
    *,
    expires_in: timedelta | None = None,
    label: str | None = None,
    created_by: str | None = None,
    kind: TokenKind = "api",
) -> NewToken:
    """Make a token; its full text is returned once (only its hash is stored)."""
    granted = check_grant(role, courses)
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    info = TokenInfo(
        token_id=token_id,
        kind=kind,
        role=role,
        courses=granted,
        label=(label or "")[:128] or None,
        created_at=now,
        created_by=created_by,
        expires_at=now + expires_in if expires_in else None,
        revoked_at=None,
        used_at=None,
    )
    row = {**dataclasses.asdict(info), "courses": list(granted), "secret_sha256": _digest(secret)}
    with engine.begin() as conn:
        conn.execute(api_tokens.insert().values(**row))
    return NewToken(f"{PREFIX}_{token_id}_{secret}", info)


def create_signin_link_token(engine: Engine, valid_for: timedelta, created_by: str = "passcompass run") -> NewToken:
    """A one-time admin sign-in for the web page (what ``passcompass run`` prints as a link): it works once,
    within ``valid_for``, and the session it opens lasts as long as any session."""
    return create_token(engine, ADMIN, expires_in=valid_for, label="sign-in link", created_by=created_by, kind="signin")


def bootstrap_signin(engine: Engine, valid_hours: float) -> str:
    """What ``passcompass run`` prints as ``/?token=...``: a new one-time admin sign-in link's token, so the demo
    can be opened at once (on a fresh home as on any other; each start makes a new one, each works once)."""
    return create_signin_link_token(engine, timedelta(hours=valid_hours)).token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at))
        return [_info(row) for row in rows]


def get_token(engine: Engine, token_id: str) -> TokenInfo | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
    return _info(row) if row else None


def revoke_token(engine: Engine, token_id: str) -> bool:
    """Revoke a token and end every page session opened with it; False if there is no such active token."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            api_tokens.update()
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        conn.execute(
            web_sessions.update()
            .where(web_sessions.c.token_id == token_id, web_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
    return result.rowcount == 1


def looks_like_token(text: str) -> bool:
    return text.startswith(f"{PREFIX}_")


def _split(token: str) -> tuple[str, str] | None:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    if any(c not in "0123456789abcdef" for c in parts[1]) or len(parts[2]) > 128:
        return None
    return parts[1], parts[2]


def verify_token(engine: Engine, token: str, kinds: tuple[TokenKind, ...] = ("api",)) -> TokenInfo | None:
    """The active token ``token`` names, if its secret matches (compared in constant time), else None."""
    split = _split(token)
    token_id, secret = split if split else ("", "")
    info: TokenInfo | None = None
    stored = _DUMMY_HASH
    if split:
        with engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        if row is not None:
            stored, info = row.secret_sha256, _info(row)
    matches = hmac.compare_digest(stored, _digest(secret))
    if not matches or info is None or info.kind not in kinds or info.status() != "active":
        return None
    return info


def use_signin_link(engine: Engine, token: str) -> TokenInfo | None:
    """Spend a one-time sign-in link: its token once, if valid; None if unknown, expired, revoked or used."""
    info = verify_token(engine, token, kinds=("signin",))
    if info is None:
        return None
    with engine.begin() as conn:
        spent = conn.execute(
            api_tokens.update()
            .where(
                api_tokens.c.token_id == info.token_id,
                api_tokens.c.used_at.is_(None),
                api_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
    return info if spent.rowcount == 1 else None


def session_token(engine: Engine, token_id: str) -> TokenInfo | None:
    """The token behind a page session, while it is good for one: not revoked, and (an API token) not expired."""
    info = get_token(engine, token_id)
    if info is None or info.revoked_at is not None:
        return None
    if info.kind == "api" and info.status() != "active":
        return None
    return info


def last_used(engine: Engine) -> dict[str, datetime]:
    """When each token was last seen at work: its latest page sign-in or logged download (what the platform
    records; a token's other API calls are not recorded one by one)."""
    seen: dict[str, datetime] = {}

    def note(token_id: str, at: datetime | None) -> None:
        at = utc(at)
        if at is not None and (token_id not in seen or at > seen[token_id]):
            seen[token_id] = at

    with engine.connect() as conn:
        signins = sa.select(web_sessions.c.token_id, sa.func.max(web_sessions.c.created_at).label("at"))
        for row in conn.execute(signins.where(web_sessions.c.token_id.is_not(None)).group_by(web_sessions.c.token_id)):
            note(row.token_id, row.at)
        logged = sa.select(access_log.c.principal, sa.func.max(access_log.c.at).label("at"))
        for row in conn.execute(logged.where(access_log.c.principal.like("token:%")).group_by(access_log.c.principal)):
            note(row.principal.removeprefix("token:"), row.at)
    return seen
