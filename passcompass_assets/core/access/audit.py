"""The access log: every download of a report, evaluation or prediction, by whom and when.

Call :func:`record_access` wherever student-level results leave the platform (the report and evaluation
downloads do; a prediction endpoint should too). ``target`` names what was read (a report id, a course and
period); never put a student's id or values in it. Entries older than ``PASSCOMPASS_ACCESS_LOG_RETENTION_DAYS``
are purged by the retention job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.access.roles import Principal
from passcompass_assets.core.db.tables import access_log
from passcompass_assets.core.db.timestamps import utc

REPORT_DOWNLOAD = "report.download"
EVALUATION_DOWNLOAD = "evaluation.download"
PREDICTION = "prediction"


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: datetime
    principal: str
    action: str
    target: str
    course_id: str | None


def record_access(
    engine: Engine, principal: Principal | str, action: str, target: str, course_id: str | None = None
) -> None:
    """Record that ``principal`` (a :class:`Principal`, or its id) did ``action`` on ``target`` now."""
    who = principal.id if isinstance(principal, Principal) else principal
    with engine.begin() as conn:
        conn.execute(
            access_log.insert().values(
                at=datetime.now(UTC), principal=who[:200], action=action[:64], target=target[:400], course_id=course_id
            )
        )


def list_access(
    engine: Engine,
    *,
    since: datetime | None = None,
    principal: str | None = None,
    action: str | None = None,
    course_id: str | None = None,
    limit: int = 100,
) -> list[AccessEntry]:
    """Entries, newest first."""
    query = sa.select(access_log).order_by(access_log.c.seq.desc()).limit(limit)
    if since is not None:
        query = query.where(access_log.c.at >= utc(since))
    if principal:
        query = query.where(access_log.c.principal == principal)
    if action:
        query = query.where(access_log.c.action == action)
    if course_id:
        query = query.where(access_log.c.course_id == course_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        AccessEntry(row.seq, utc(row.at) or datetime.now(UTC), row.principal, row.action, row.target, row.course_id)
        for row in rows
    ]


def purge_access_log(engine: Engine, keep_days: int, now: datetime | None = None) -> int:
    """Delete entries older than ``keep_days``; how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    with engine.begin() as conn:
        return int(conn.execute(access_log.delete().where(access_log.c.at < cutoff)).rowcount or 0)
