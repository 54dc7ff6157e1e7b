"""Retention: a period's student-level data is kept ``PASSCOMPASS_RETENTION_DAYS`` after the period ends, then
purged (:func:`~passcompass_assets.core.privacy.erasure.purge_period`) with its report ledger; the access log keeps
its entries ``PASSCOMPASS_ACCESS_LOG_RETENTION_DAYS``. A scheduled Dagster job runs :func:`apply_retention` daily.

A period without dates (known only from uploads) has no end, so it is never purged by age.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.access.audit import purge_access_log
from passcompass_assets.core.db.tables import uploads
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.privacy.erasure import STUDENT_TABLES, list_erasures, purge_period
from passcompass_assets.core.privacy.rewrite import reports_generated_after
from passcompass_assets.core.settings import Settings


@dataclass
class RetentionOutcome:
    purged: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> what was removed
    kept: list[str] = field(default_factory=list)  # expired periods with nothing left to purge
    access_log_entries: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"purged": self.purged, "already_purged": self.kept, "access_log_entries": self.access_log_entries}


def expired_periods(engine: Engine, keep_days: int, today: date) -> list[Period]:
    """Periods that ended more than ``keep_days`` before ``today``."""
    # Counted back from today: a period ending on the calendar's last day cannot be stepped past it.
    return [p for p in list_periods(engine) if (today - p.end_date).days > keep_days]


def needs_purge(engine: Engine, period_id: str) -> bool:
    """Whether anything of the period is left to purge: never purged, or student rows, uploads or reports of it
    arrived since its last purge."""
    previous = list_erasures(engine, scope="retention", period_id=period_id)
    if not previous:
        return True
    last = previous[0]
    with engine.connect() as conn:
        for table in STUDENT_TABLES:
            if conn.execute(sa.select(sa.literal(1)).where(table.c.period_id == period_id).limit(1)).first():
                return True
        since = last.counts.get("through_upload_seq", 0)
        newer = conn.execute(sa.select(uploads.c.period_ids).where(uploads.c.seq > since)).all()
        if any(period_id in (row.period_ids or []) for row in newer):
            return True
    return reports_generated_after(engine, period_id, last.at)


def apply_retention(settings: Settings, engine: Engine, today: date | None = None) -> RetentionOutcome:
    """Purge every period past its retention (if anything is left of it), and the access log's old entries."""
    outcome = RetentionOutcome()
    today = today or datetime.now(UTC).date()
    if settings.retention_days is not None:
        for period in expired_periods(engine, settings.retention_days, today):
            if needs_purge(engine, period.period_id):
                outcome.purged[period.period_id] = purge_period(settings, engine, period.period_id).counts
            else:
                outcome.kept.append(period.period_id)
    outcome.access_log_entries = purge_access_log(engine, settings.access_log_retention_days)
    return outcome
