"""Academic periods (terms): dates and report cadence; "current" is the period whose dates contain today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import periods

Cadence = Literal[2, 3, 4]  # weeks between reports
CADENCES: tuple[Cadence, ...] = (2, 3, 4)
# What a term can be: its dates within these years, and at most two years long (an end of 9999-12-31 is a
# typo or an attack, and made every page that lists report dates fail).
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
MAX_TERM_DAYS = 731


def date_problem(day: date) -> str | None:
    """Why a period cannot start or end on ``day``, or None."""
    if not EARLIEST <= day <= LATEST:
        return f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
    return None


def term_problem(start: date, end: date) -> str | None:
    """Why a period cannot run from ``start`` to ``end``, or None."""
    if end <= start:
        return "end_date must be after start_date"
    if (end - start).days > MAX_TERM_DAYS:
        return f"a period may last at most {MAX_TERM_DAYS} days (two years)"
    return None


@dataclass(frozen=True)
class Period:
    period_id: str
    start_date: date
    end_date: date
    cadence_weeks: Cadence = 3

    def contains(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


def upsert_period(engine: Engine, period: Period) -> None:
    if period.cadence_weeks not in CADENCES:
        raise ValueError(f"cadence_weeks must be one of {CADENCES}")
    for name, day in (("start_date", period.start_date), ("end_date", period.end_date)):
        if problem := date_problem(day):
            raise ValueError(f"{name} {problem}")
    if problem := term_problem(period.start_date, period.end_date):
        raise ValueError(problem)
    values = {
        "period_id": period.period_id,
        "start_date": period.start_date,
        "end_date": period.end_date,
        "cadence_weeks": period.cadence_weeks,
    }
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(periods).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["period_id"], set_={k: v for k, v in values.items() if k != "period_id"}
        )
        conn.execute(statement)


def list_periods(engine: Engine) -> list[Period]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(periods).order_by(periods.c.start_date, periods.c.period_id)).all()
    return [Period(r.period_id, r.start_date, r.end_date, r.cadence_weeks) for r in rows]


def active_periods(engine: Engine, day: date) -> list[Period]:
    return [p for p in list_periods(engine) if p.contains(day)]


def find_period(engine: Engine, period_id: str) -> Period | None:
    return next((p for p in list_periods(engine) if p.period_id == period_id), None)
