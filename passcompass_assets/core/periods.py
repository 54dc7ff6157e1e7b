"""Academic periods (terms): dates and report cadence; "current" is the period whose dates contain today."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import periods
from passcompass_assets.core.errors import NotFound, Problem, Rejected

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


def closest_periods(engine: Engine, period_id: str) -> list[str]:
    """The declared periods nearest in spelling to ``period_id`` (a typo's intended term)."""
    return difflib.get_close_matches(period_id, [p.period_id for p in list_periods(engine)], n=3, cutoff=0.6)


def require_declared(engine: Engine, period_id: str, field: str = "period_id") -> Period:
    """The declared period, or a refusal naming the field and the declared periods closest to it: a typo never
    creates a term that every page then lists."""
    if (period := find_period(engine, period_id)) is not None:
        return period
    close = closest_periods(engine, period_id)
    hint = f": did you mean {' or '.join(close)}?" if close else ""
    declare = f"PUT /api/v1/periods/{period_id}"
    message = f"period {period_id} is not declared{hint}. A new term is declared first ({declare})"
    raise Rejected(422, "undeclared_period", message, [Problem(message, None, field)])


def period_data(engine: Engine, period_id: str) -> dict[str, int]:
    """What names the period, by table (rows), and uploads received but not yet applied: empty when it has none."""
    from passcompass_assets.core.db.tables import metadata, uploads

    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            # The record of erasures names periods it purged: history, not the period's data.
            if table.name in (periods.name, "erasures") or "period_id" not in table.c:
                continue
            query = sa.select(sa.func.count()).select_from(table).where(table.c.period_id == period_id)
            if count := conn.execute(query).scalar_one():
                found[table.name] = count
        received = sa.select(uploads.c.period_ids).where(uploads.c.status == "received")
        pending: list[list[str]] = [row.period_ids for row in conn.execute(received)]
        if waiting := sum(period_id in (ids or []) for ids in pending):
            found["uploads not yet applied"] = waiting
    return found


def delete_period(engine: Engine, period_id: str) -> None:
    """Delete a declared period that nothing names yet (a mistake, a term declared too early); one with data is
    refused (409), saying what it holds."""
    if find_period(engine, period_id) is None:
        raise NotFound(f"no period {period_id!r} is declared")
    if held := period_data(engine, period_id):
        listed = ", ".join(f"{table} ({count})" for table, count in sorted(held.items()))
        raise Rejected(
            409,
            "period_has_data",
            f"period {period_id} has data and cannot be deleted: {listed}",
            [Problem(f"the period has data: {listed}", None, "period_id")],
        )
    with engine.begin() as conn:
        conn.execute(periods.delete().where(periods.c.period_id == period_id))
