"""The instructor's workspace: what the course page and the student page show, and recording an action.

The course page lists every student of the latest report of a course period, highest risk first, filtered by band,
by "new to high risk" or "risk rising" (core/reports/term.py), one page at a time; each row has the student's
trajectory over the term's reports and what was done so far. The student page has the student's reports and the
actions recorded, in time order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.actions import Action, ActionSummary, list_actions, record_action, summaries
from passcompass_assets.core.cadence import next_report_date
from passcompass_assets.core.courses import course_periods, get_course
from passcompass_assets.core.db.tables import student_records
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.periods import Period, find_period
from passcompass_assets.core.reports.period_choice import period_to_show
from passcompass_assets.core.reports.store import ReportRecord, list_reports
from passcompass_assets.core.reports.term import TermTable, student_history, term_table

PAGE_SIZE: Final = 50
SEE_FIRST: Final = 6  # students in the course page's "see first" card
Band = Literal["all", "high", "medium", "low"]
Show = Literal["all", "new", "rising"]


@dataclass(frozen=True)
class Point:
    """The student in one report of the term (``probability`` None: not in that report)."""

    report_date: date
    probability: float | None
    band: str | None
    week: int | None = None  # the report's week of term


@dataclass(frozen=True)
class StudentRow:
    user_id: str
    probability: float | None  # None: not enough data for a prediction
    band: str
    previous_probability: float | None
    change: float | None
    new_high: bool
    rising: bool
    predicted_grade: float | None
    top_factors: str
    background_factors: str
    signals: str
    trajectory: list[Point]
    action: ActionSummary | None


@dataclass(frozen=True)
class Scale:
    grade_max: float | None
    pass_mark: float | None


@dataclass(frozen=True)
class CoursePage:
    course_id: str
    title: str | None
    period_id: str
    period: Period | None
    report: ReportRecord | None  # the latest report of the period (None: none yet)
    previous: ReportRecord | None
    reports: list[ReportRecord]  # the term's, oldest first
    scale: Scale
    counts: dict[str, int]  # all, high, medium, low, new, rising
    band: Band
    show: Show
    query: str
    page: int
    pages: int
    matching: int
    rows: list[StudentRow]
    next_due: date | None
    other_periods: list[str] = field(default_factory=list)
    see_first: list[StudentRow] = field(default_factory=list)  # new to high risk, then rising; at most SEE_FIRST

    @property
    def name(self) -> str:
        return self.title or self.course_id

    @property
    def first_row(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0


def _float(value: object) -> float | None:
    number = float(value) if value is not None else math.nan  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def _scale(engine: Engine, course_id: str, period_id: str, report: ReportRecord | None) -> Scale:
    """The scale the latest report used (what its grades are on), else the course's."""
    header = report.header if report else {}
    grade_max, pass_mark = header.get("grade_max"), header.get("pass_mark")
    if grade_max is None and (course := get_course(engine, course_id, period_id)) is not None:
        grade_max, pass_mark = course.grade_max, course.pass_mark
    return Scale(_float(grade_max), _float(pass_mark))


def _filtered(table: TermTable, band: Band, show: Show, query: str) -> pd.DataFrame:
    frame = table.current
    mask = pd.Series(True, index=frame.index)
    if band != "all":
        mask &= frame["risk_band"] == band
    if show == "new":
        mask &= frame["new_high"]
    elif show == "rising":
        mask &= frame["rising"]
    if query:
        mask &= frame["user_id"].str.contains(query, case=False, regex=False)
    return frame.loc[mask]


def _trajectory(table: TermTable, user_id: str) -> list[Point]:
    probabilities = table.probabilities.loc[user_id]
    bands = table.bands.loc[user_id]
    named = [band if isinstance(band, str) else None for band in bands.tolist()]
    return [
        Point(r.report_date, _float(probabilities.iloc[i]), named[i], r.week_of_term)
        for i, r in enumerate(table.records)
    ]


def _rows(engine: Engine, table: TermTable, course_id: str, period_id: str, frame: pd.DataFrame) -> list[StudentRow]:
    done = summaries(engine, course_id, period_id, frame["user_id"])
    return [
        StudentRow(
            user_id=row.user_id,
            probability=_float(row.fail_probability),
            band=row.risk_band if isinstance(row.risk_band, str) else "",  # "": not enough data
            previous_probability=_float(row.previous_probability),
            change=_float(row.change),
            new_high=bool(row.new_high),
            rising=bool(row.rising),
            predicted_grade=_float(row.predicted_final_grade),
            top_factors=str(row.top_factors),
            background_factors=str(row.background_factors),
            signals=str(row.signals_available),
            trajectory=_trajectory(table, row.user_id),
            action=done.get(row.user_id),
        )
        for row in frame.itertuples(index=False)
    ]


def _see_first(table: TermTable) -> pd.DataFrame:
    """The students to see first: new to high risk, then those whose risk is rising, highest risk first in each."""
    frame = table.current
    new, rising = frame.loc[frame["new_high"]], frame.loc[frame["rising"] & ~frame["new_high"]]
    return pd.concat([new, rising]).head(SEE_FIRST)


def course_page(
    engine: Engine,
    reports_dir: Path,
    course_id: str,
    period_id: str | None,
    today: date,
    *,
    band: Band = "all",
    show: Show = "all",
    query: str = "",
    page: int = 1,
) -> CoursePage | None:
    """The course page's data; None when the course is unknown (no records, no reports) in the period."""
    period_id = period_to_show(engine, course_id, today, period_id).period_id
    if period_id is None:
        return None
    table = term_table(engine, reports_dir, course_id, period_id)
    periods = course_periods(engine, course_id)
    if table.latest is None and period_id not in periods:
        return None
    frame = table.current
    counts = {
        "all": len(frame),
        **{b: int((frame["risk_band"] == b).sum()) for b in ("high", "medium", "low")},
        "new": table.new_high,
        "rising": table.rising,
    }
    chosen = _filtered(table, band, show, query.strip())
    pages = max(1, math.ceil(len(chosen) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = chosen.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows = _rows(engine, table, course_id, period_id, shown)
    period = find_period(engine, period_id)
    others = sorted({*periods, *(r.period_id for r in list_reports(engine, course_id))} - {period_id})
    course = get_course(engine, course_id, period_id)
    return CoursePage(
        course_id=course_id,
        title=course.title if course else None,
        period_id=period_id,
        period=period,
        report=table.latest,
        previous=table.previous,
        reports=list(table.records),
        scale=_scale(engine, course_id, period_id, table.latest),
        counts=counts,
        band=band,
        show=show,
        query=query.strip(),
        page=page,
        pages=pages,
        matching=len(chosen),
        rows=rows,
        next_due=next_report_date(period, today) if period else None,
        other_periods=others,
        see_first=_rows(engine, table, course_id, period_id, _see_first(table)) if table.latest else [],
    )


@dataclass(frozen=True)
class StudentReport:
    record: ReportRecord
    probability: float | None
    band: str
    predicted_grade: float | None
    top_factors: str
    background_factors: str
    signals: str
    data_as_of: str


@dataclass(frozen=True)
class TimelineEntry:
    day: date
    report: StudentReport | None = None
    action: Action | None = None


@dataclass(frozen=True)
class StudentPage:
    course_id: str
    title: str | None
    period_id: str
    user_id: str
    scale: Scale
    reports: list[StudentReport]
    actions: list[Action]
    timeline: list[TimelineEntry]  # reports and actions, in time order
    term_reports: int  # how many reports the term has (the student may be in fewer)

    @property
    def name(self) -> str:
        return self.title or self.course_id


def student_page(
    engine: Engine, reports_dir: Path, course_id: str, period_id: str | None, user_id: str, today: date
) -> StudentPage | None:
    """The student page's data; None when the student is neither in the term's reports nor in its records."""
    period_id = period_to_show(engine, course_id, today, period_id).period_id
    if period_id is None:
        return None
    table = term_table(engine, reports_dir, course_id, period_id)
    history = student_history(reports_dir, list(table.records), user_id)
    if not history and not _has_record(engine, course_id, period_id, user_id):
        return None
    reports = [
        StudentReport(
            record=record,
            probability=_float(row.get("fail_probability")),
            band=str(row.get("risk_band") or ""),
            predicted_grade=_float(row.get("predicted_final_grade")),
            top_factors=str(row.get("top_factors") or ""),
            background_factors=str(row.get("background_factors") or ""),
            signals=str(row.get("signals_available") or ""),
            data_as_of=str(row.get("data_as_of") or ""),
        )
        for record, row in history
    ]
    actions = list_actions(engine, course_id, period_id, user_id)
    # Reports first on a day they share with an action: the action answers the report.
    start = datetime.min.replace(tzinfo=UTC)
    entries = [(r.record.report_date, 0, start, TimelineEntry(r.record.report_date, r)) for r in reports]
    entries += [(a.recorded_at.date(), 1, a.recorded_at, TimelineEntry(a.recorded_at.date(), None, a)) for a in actions]
    timeline = [entry for *_, entry in sorted(entries, key=lambda e: (e[0], e[1], e[2]))]
    course = get_course(engine, course_id, period_id)
    return StudentPage(
        course_id=course_id,
        title=course.title if course else None,
        period_id=period_id,
        user_id=user_id,
        scale=_scale(engine, course_id, period_id, table.latest),
        reports=reports,
        actions=actions,
        timeline=timeline,
        term_reports=len(table.records),
    )


def _has_record(engine: Engine, course_id: str, period_id: str, user_id: str) -> bool:
    c = student_records.c
    query = sa.select(sa.literal(1)).where(c.user_id == user_id, c.course_id == course_id, c.period_id == period_id)
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def is_student(engine: Engine, reports_dir: Path, course_id: str, period_id: str, user_id: str) -> bool:
    """Whether ``user_id`` is a student of the course period: in its records, or in one of its reports."""
    if _has_record(engine, course_id, period_id, user_id):
        return True
    table = term_table(engine, reports_dir, course_id, period_id)
    return user_id in table.probabilities.index or bool(student_history(reports_dir, list(table.records), user_id))


def record_student_action(
    engine: Engine,
    reports_dir: Path,
    *,
    course_id: str,
    period_id: str,
    user_id: str,
    kind: str,
    actor: str,
    note: str | None = None,
) -> Action:
    """Record an action on a student of the course period (404 for anyone else); who and when from the caller."""
    if not is_student(engine, reports_dir, course_id, period_id, user_id):
        raise Rejected(
            404,
            "unknown_student",
            f"no student with that user_id in course {course_id!r}, period {period_id!r}",
            [Problem("not a student of this course in this period", column="user_id")],
        )
    return record_action(
        engine, course_id=course_id, period_id=period_id, user_id=user_id, kind=kind, actor=actor, note=note
    )
