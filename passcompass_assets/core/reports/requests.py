"""Which reports are due and which were asked for: the cadence, the request queue, and the period a report is for.

The API queues a request (with its course report in the ledger, core/reports/tasks.py), the daily tick queues the
courses due; the report sensor makes them in batches. The CLI and the API choose a report's period with the same
rule (:func:`reportable_period`, from core/reports/period_choice.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from passcompass_assets.core.cadence import is_report_day
from passcompass_assets.core.courses import course_periods, courses_by_period
from passcompass_assets.core.db.tables import report_requests, report_tasks
from passcompass_assets.core.errors import NotFound
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.periods import list_periods
from passcompass_assets.core.reports.period_choice import period_to_show
from passcompass_assets.core.reports.tasks import queue, request_key, scheduled_key, task_values


@dataclass(frozen=True)
class ReportRequest:
    seq: int  # arrival order
    request_id: str
    course_id: str
    period_id: str
    requested_at: datetime
    status: str = "requested"  # requested, done or failed
    error: str | None = None


def reportable_period(engine: Engine, course_id: str, period_id: str | None, today: date) -> str:
    """The period a report of the course is made in: the named one, else :func:`period_to_show`'s choice; it must
    hold the course's data (:class:`NotFound` otherwise)."""
    periods = course_periods(engine, course_id)
    if not periods:
        raise NotFound(f"no data for course {course_id!r} yet")
    chosen = period_to_show(engine, course_id, today, period_id).period_id
    if chosen not in periods:
        raise NotFound(f"course {course_id!r} has no data in period {chosen!r}")
    return chosen


def request_report(engine: Engine, course_id: str, period_id: str | None, today: date) -> ReportRequest:
    """Queue a report of the course now (in the chosen period); :class:`NotFound` when there is no such data."""
    chosen = reportable_period(engine, course_id, period_id, today)
    request_id, requested_at = str(uuid.uuid4()), datetime.now(UTC)
    values = {"request_id": request_id, "course_id": course_id, "period_id": chosen, "requested_at": requested_at}
    task = task_values(ReportKey(course_id, chosen, requested_at.date()), request_key(request_id), request_id)
    with engine.begin() as conn:
        seq: int = conn.execute(report_requests.insert().values(values).returning(report_requests.c.seq)).scalar_one()
        conn.execute(report_tasks.insert().values(task))
    return ReportRequest(seq, request_id, course_id, chosen, requested_at)


def queue_due_reports(engine: Engine, day: date) -> int:
    """Queue the report of every course due on ``day`` (once, however often the day's tick runs); how many new."""
    keys = [ReportKey(course_id, period_id, day) for course_id, period_id in due_reports(engine, day)]
    return queue(engine, [(key, scheduled_key(key)) for key in keys])


def due_reports(engine: Engine, day: date) -> list[tuple[str, str]]:
    """(course_id, period_id) of every course whose period has a scheduled report on ``day``."""
    by_period = courses_by_period(engine)
    return [
        (course_id, period.period_id)
        for period in list_periods(engine)
        if is_report_day(period, day)
        for course_id in by_period.get(period.period_id, [])
    ]
