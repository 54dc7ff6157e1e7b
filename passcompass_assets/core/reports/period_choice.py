"""Which period to show or report on when the caller names none: decided here, once, with the reason: for one
course (:func:`period_to_show`) and for the home page's list of courses (:func:`periods_to_show`); which periods
hold a reader's courses (:func:`periods_holding`: an instructor is never offered a term without one of theirs).

The report API's "latest", a report request (API and CLI), the course page and the student page all ask
:func:`period_to_show`, so they agree on what "now" is for a course.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from sqlalchemy.engine import Engine

from passcompass_assets.core.cadence import next_report_date
from passcompass_assets.core.courses import course_periods, courses_by_period
from passcompass_assets.core.ml.wording import day
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.reports.store import ReportRecord, list_reports, reported_course_periods

Reason = Literal["requested", "current", "latest_data", "latest_report", "current_without_data", "none"]


@dataclass(frozen=True)
class PeriodChoice:
    """The period to show (None: the course has nothing anywhere and no period is current) and why."""

    period_id: str | None
    reason: Reason

    def note(self, course_id: str) -> str | None:
        """Why this period, in plain words, when it is not simply the one asked for or the current one."""
        if self.reason == "latest_data":
            return f"No period is current for course {course_id}; showing {self.period_id}, the latest it has data in."
        if self.reason == "latest_report":
            return f"No period is current for course {course_id}; showing {self.period_id}, its latest report's."
        if self.reason == "current_without_data":
            return f"Course {course_id} has no data in the current period, {self.period_id}, yet."
        if self.reason == "none":
            return f"Course {course_id} has no data yet, and no period is current."
        return None


def period_to_show(engine: Engine, course_id: str, today: date, requested: str | None = None) -> PeriodChoice:
    """The period named, else the first current period (its dates contain ``today``) the course has records or
    reports in, else the course's latest period with records (the one an upload named most recently), else its
    latest report's period, else the first current period even without the course's data (its next report date
    can still be said), else none."""
    if requested:
        return PeriodChoice(requested, "requested")
    with_records = course_periods(engine, course_id)
    reported = list_reports(engine, course_id)  # newest first
    current = [p.period_id for p in list_periods(engine) if p.contains(today)]
    with_data = set(with_records) | {r.period_id for r in reported}
    if chosen := next((p for p in current if p in with_data), None):
        return PeriodChoice(chosen, "current")
    if with_records:
        return PeriodChoice(with_records[-1], "latest_data")
    if reported:
        return PeriodChoice(reported[0].period_id, "latest_report")
    if current:
        return PeriodChoice(current[0], "current_without_data")
    return PeriodChoice(None, "none")


class Reader(Protocol):
    """Who reads (an access principal): every course, or those granted."""

    @property
    def all_courses(self) -> bool: ...

    def may_see(self, course_id: str) -> bool: ...


def periods_holding(engine: Engine, reader: Reader | None) -> set[str] | None:
    """The periods that hold a course ``reader`` may see (the course has data or a report in it); None: every
    period (no reader named, or one who sees every course)."""
    if reader is None or reader.all_courses:
        return None
    held = {p for p, names in courses_by_period(engine).items() if any(reader.may_see(c) for c in names)}
    return held | {p for c, p in reported_course_periods(engine) if reader.may_see(c)}


def periods_to_show(
    periods: list[Period], undated: list[str], today: date, requested: str | None, holding: set[str] | None = None
) -> tuple[list[str], str]:
    """The periods the home page shows (every course in them), and a notice when it is not simply "the current
    ones": the period asked for; else the current periods (today within their dates: the same "current" as
    :func:`period_to_show`); else the latest period that has started, the next to start, the latest undated one.
    ``undated``: periods that uploads named before periods had to be declared. ``holding``: only these periods
    (:func:`periods_holding`; None: all), and the notice speaks of "your courses"."""
    if holding is not None:
        periods = [p for p in periods if p.period_id in holding]
        undated = [p for p in undated if p in holding]
    known = [p.period_id for p in periods] + undated
    if requested in known:
        return [requested], ""
    among = " among your courses' terms" if holding is not None else ""
    missing = f"There is no period named {requested!r}{among}. " if requested else ""
    if current := [p.period_id for p in periods if p.contains(today)]:
        return current, missing
    not_now = "None of your courses is in a current period" if holding is not None else "No period is current today"
    started = [p for p in periods if p.start_date <= today]
    if started:
        recent = max(started, key=lambda p: (p.end_date, p.start_date))
        return [recent.period_id], (
            f"{missing}{not_now}; showing the most recent one, {recent.period_id}, "
            f"which ended on {day(recent.end_date)}."
        )
    if periods:
        upcoming = min(periods, key=lambda p: p.start_date)
        return [upcoming.period_id], (
            f"{missing}{not_now}; showing the next one, {upcoming.period_id}, "
            f"which starts on {day(upcoming.start_date)}."
        )
    if undated:
        return [undated[-1]], f"{missing}No period has dates yet; showing {undated[-1]}, the latest one uploads named."
    return [], missing


@dataclass(frozen=True)
class LatestReport:
    record: ReportRecord | None
    period: Period | None
    next_due: date | None
    choice: PeriodChoice

    def explanation(self, course_id: str) -> str:
        if self.choice.period_id is None:
            return f"no report for course {course_id!r} yet, and no period is current"
        due = f"; the next report is due on {self.next_due.isoformat()}" if self.next_due else ""
        return f"no report for course {course_id!r} in period {self.choice.period_id!r} yet{due}"


def latest_report(engine: Engine, course_id: str, period_id: str | None, today: date) -> LatestReport:
    """The most recent report of the named period, else of the period :func:`period_to_show` chooses; without
    one, when the next is due."""
    choice = period_to_show(engine, course_id, today, period_id)
    period = next((p for p in list_periods(engine) if p.period_id == choice.period_id), None)
    records = list_reports(engine, course_id, choice.period_id) if choice.period_id else []
    if records:
        return LatestReport(records[0], period, None, choice)
    return LatestReport(None, period, next_report_date(period, today) if period else None, choice)
