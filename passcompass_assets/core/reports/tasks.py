"""The ledger of course reports to make: queued by the cadence, a request or an operator; grouped into batches (one
run's worth of a report day's courses); marked done or failed course by course; a failed course queued again alone
after the back-off, until its attempts run out.

A run makes a batch; whatever happens to the run, the ledger says which of its courses are still to do, so a
relaunched run (after a crash) picks up exactly those, and a course that failed never holds the others back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import report_requests, report_tasks
from passcompass_assets.core.keys import ReportDay, ReportKey
from passcompass_assets.core.retry import RetryPolicy

PENDING, DONE, FAILED = "pending", "done", "failed"


def scheduled_key(key: ReportKey) -> str:
    return f"report:{key.key}"


def request_key(request_id: str) -> str:
    return f"report-request:{request_id}"


@dataclass(frozen=True)
class ReportTask:
    work_key: str
    course_id: str
    period_id: str
    report_date: date
    request_id: str | None = None
    batch_id: str | None = None
    status: str = PENDING
    failures: int = 0
    given_up: bool = False
    error: str | None = None
    report_id: str | None = None
    queued_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def day(self) -> ReportDay:
        return ReportDay(self.period_id, self.report_date)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    day: ReportDay
    size: int  # courses still to make in it


def _task(row: sa.Row) -> ReportTask:
    return ReportTask(**{column: getattr(row, column) for column in report_tasks.c.keys()})  # noqa: SIM118 - column names


def task_values(key: ReportKey, work_key: str, request_id: str | None = None) -> dict[str, object]:
    """A new pending task's row (for callers that insert it beside rows of their own, in one transaction)."""
    return {
        "work_key": work_key,
        "course_id": key.course_id,
        "period_id": key.period_id,
        "report_date": key.report_date,
        "request_id": request_id,
        "status": PENDING,
        "queued_at": datetime.now(UTC),
    }


def queue(engine: Engine, keys: Iterable[tuple[ReportKey, str]]) -> int:
    """Queue a report per (key, work key) not queued before; how many were new (queuing is idempotent)."""
    wanted = {work_key: key for key, work_key in keys}
    if not wanted:
        return 0
    with engine.begin() as conn:
        known: set[str] = set()
        names = list(wanted)
        for start in range(0, len(names), 500):  # bounded IN lists
            chunk = names[start : start + 500]
            known |= set(
                conn.execute(sa.select(report_tasks.c.work_key).where(report_tasks.c.work_key.in_(chunk))).scalars()
            )
        new = [task_values(key, work_key) for work_key, key in wanted.items() if work_key not in known]
        if new:
            conn.execute(report_tasks.insert(), new)
    return len(new)


def form_batches(engine: Engine, size: int) -> list[Batch]:
    """Put the tasks waiting for a batch into batches of at most ``size`` courses of one report day, oldest first."""
    query = (
        sa.select(report_tasks.c.work_key, report_tasks.c.period_id, report_tasks.c.report_date)
        .where(report_tasks.c.status == PENDING, report_tasks.c.batch_id.is_(None))
        .order_by(report_tasks.c.queued_at, report_tasks.c.work_key)
    )
    formed = []
    with engine.begin() as conn:
        by_day: dict[ReportDay, list[str]] = {}
        for row in conn.execute(query):
            by_day.setdefault(ReportDay(row.period_id, row.report_date), []).append(row.work_key)
        for day, keys in by_day.items():
            for start in range(0, len(keys), max(1, size)):
                chunk = keys[start : start + max(1, size)]
                batch_id = str(uuid.uuid4())
                conn.execute(report_tasks.update().where(report_tasks.c.work_key.in_(chunk)).values(batch_id=batch_id))
                formed.append(Batch(batch_id, day, len(chunk)))
    return formed


def batch_of(engine: Engine, work_keys: list[str]) -> str:
    """Put these pending tasks (of one report day) into a batch of their own; its id."""
    batch_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            report_tasks.update()
            .where(report_tasks.c.work_key.in_(work_keys), report_tasks.c.status == PENDING)
            .values(batch_id=batch_id)
        )
    return batch_id


def open_batches(engine: Engine) -> list[Batch]:
    """Batches with courses still to make, oldest first."""
    query = (
        sa.select(
            report_tasks.c.batch_id,
            report_tasks.c.period_id,
            report_tasks.c.report_date,
            sa.func.count().label("size"),
            sa.func.min(report_tasks.c.queued_at).label("since"),
        )
        .where(report_tasks.c.status == PENDING, report_tasks.c.batch_id.is_not(None))
        .group_by(report_tasks.c.batch_id, report_tasks.c.period_id, report_tasks.c.report_date)
        .order_by(sa.text("since"), report_tasks.c.batch_id)
    )
    with engine.connect() as conn:
        return [Batch(row.batch_id, ReportDay(row.period_id, row.report_date), row.size) for row in conn.execute(query)]


def batch_tasks(engine: Engine, batch_id: str) -> list[ReportTask]:
    """The batch's courses still to make (a relaunched run skips those made before it crashed)."""
    query = (
        sa.select(report_tasks)
        .where(report_tasks.c.batch_id == batch_id, report_tasks.c.status == PENDING)
        .order_by(report_tasks.c.course_id, report_tasks.c.work_key)
    )
    with engine.connect() as conn:
        return [_task(row) for row in conn.execute(query)]


def find_task(engine: Engine, work_key: str) -> ReportTask | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(report_tasks).where(report_tasks.c.work_key == work_key)).first()
    return _task(row) if row else None


def course_tasks(engine: Engine, course_id: str, period_id: str | None = None, limit: int = 50) -> list[ReportTask]:
    """A course's reports to make and made, newest first."""
    query = sa.select(report_tasks).where(report_tasks.c.course_id == course_id)
    if period_id:
        query = query.where(report_tasks.c.period_id == period_id)
    query = query.order_by(report_tasks.c.queued_at.desc(), report_tasks.c.work_key).limit(limit)
    with engine.connect() as conn:
        return [_task(row) for row in conn.execute(query)]


def mark_done(engine: Engine, work_key: str, report_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            report_tasks.update()
            .where(report_tasks.c.work_key == work_key)
            .values(status=DONE, report_id=report_id, error=None, finished_at=datetime.now(UTC))
        )


def mark_failed(engine: Engine, task: ReportTask, error: str, policy: RetryPolicy, final: bool = False) -> bool:
    """Record a failed attempt at the course's report; True when it was its last (``final``: no retry can help)."""
    failures = task.failures + 1
    given_up = final or failures >= policy.attempts
    with engine.begin() as conn:
        conn.execute(
            report_tasks.update()
            .where(report_tasks.c.work_key == task.work_key)
            .values(status=FAILED, failures=failures, given_up=given_up, error=error, finished_at=datetime.now(UTC))
        )
    return given_up


def fail_batch(engine: Engine, batch_id: str, error: str, policy: RetryPolicy, final: bool = False) -> int:
    """A failed attempt for every course still to make in a batch (its runs kept failing: ``final``; or its run
    ended without making them): each retried alone after the back-off while it has attempts left; how many."""
    given_up = sa.true() if final else report_tasks.c.failures + 1 >= policy.attempts
    with engine.begin() as conn:
        result = conn.execute(
            report_tasks.update()
            .where(report_tasks.c.batch_id == batch_id, report_tasks.c.status == PENDING)
            .values(
                status=FAILED,
                failures=report_tasks.c.failures + 1,
                given_up=given_up,
                error=error,
                finished_at=datetime.now(UTC),
            )
        )
    return result.rowcount


def requeue_failed(engine: Engine, policy: RetryPolicy, now: datetime | None = None) -> int:
    """Failed courses whose back-off is over wait for a batch again (on their own: the courses made with them are
    not made again); how many."""
    now = now or datetime.now(UTC)
    query = sa.select(report_tasks.c.work_key, report_tasks.c.failures, report_tasks.c.finished_at).where(
        report_tasks.c.status == FAILED, report_tasks.c.given_up == sa.false()
    )
    with engine.begin() as conn:
        due = [
            row.work_key
            for row in conn.execute(query)
            if row.finished_at is None or now - _aware(row.finished_at) >= policy.wait_after(row.failures)
        ]
        if due:
            conn.execute(
                report_tasks.update()
                .where(report_tasks.c.work_key.in_(due))
                .values(status=PENDING, batch_id=None, finished_at=None)
            )
    return len(due)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def finish_requests(engine: Engine) -> int:
    """Requests whose course report is made are ``done``; given up, ``failed`` with the reason; how many."""
    query = (
        sa.select(report_requests.c.request_id, report_tasks.c.status, report_tasks.c.error, report_tasks.c.failures)
        .join(report_tasks, report_tasks.c.request_id == report_requests.c.request_id)
        .where(
            report_requests.c.status == "requested",
            sa.or_(report_tasks.c.status == DONE, report_tasks.c.given_up == sa.true()),
        )
    )
    with engine.begin() as conn:
        finished = conn.execute(query).all()
        for row in finished:
            done = row.status == DONE
            error = None if done else f"{row.error or 'the report could not be made'} (after {row.failures} attempt(s))"
            conn.execute(
                report_requests.update()
                .where(report_requests.c.request_id == row.request_id)
                .values(status="done" if done else "failed", error=error, finished_at=datetime.now(UTC))
            )
    return len(finished)


def forget_period(engine: Engine, period_id: str) -> int:
    """Drop a period's finished tasks (made, or given up, with any request of theirs answered): the ledger of a
    period past its retention; how many. A task still to make, or whose request waits for its answer, stays."""
    answered = sa.select(report_requests.c.request_id).where(report_requests.c.status != "requested")
    with engine.begin() as conn:
        result = conn.execute(
            report_tasks.delete().where(
                report_tasks.c.period_id == period_id,
                sa.or_(report_tasks.c.status == DONE, report_tasks.c.given_up == sa.true()),
                sa.or_(report_tasks.c.request_id.is_(None), report_tasks.c.request_id.in_(answered)),
            )
        )
    return result.rowcount
