"""The home page's view: the courses of the period to show, each with its latest report (or when one is due).

Built from the Dagster-free core (periods, courses, reports); the courses are those the principal may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine

from passcompass_assets.core.access.roles import Principal
from passcompass_assets.core.cadence import next_report_date
from passcompass_assets.core.courses import course_ids, list_courses, periods_with_courses
from passcompass_assets.core.datasets.loading import demo_loading
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.reports.build import BANDS
from passcompass_assets.core.reports.period_choice import periods_holding, periods_to_show
from passcompass_assets.core.reports.render import FORMATS
from passcompass_assets.core.reports.store import ReportRecord, list_reports


@dataclass(frozen=True)
class ReportView:
    report_id: str
    report_date: date
    report_number: int
    week_of_term: int
    students: int
    counts: dict[str, int]
    low_confidence: bool
    warning: str | None
    drift: str | None
    links: dict[str, str]


@dataclass(frozen=True)
class CourseView:
    course_id: str
    report: ReportView | None
    next_due: date | None
    title: str | None = None

    @property
    def name(self) -> str:
        return self.title or self.course_id


@dataclass(frozen=True)
class PeriodView:
    period_id: str
    period: Period | None  # None: a period known only from uploads, without dates
    current: bool
    next_due: date | None
    courses: list[CourseView]


@dataclass(frozen=True)
class PageView:
    today: date
    sections: list[PeriodView]
    notice: str | None = None  # why the page shows something other than the current period
    other_periods: list[str] = field(default_factory=list)
    demo_loading: bool = False  # the demo is being loaded: its courses and reports appear as they are made


def _report_view(row: ReportRecord, link: str) -> ReportView:
    # The badge already says "Low confidence"; the note under it gives the reason.
    reason = (row.warning or "").removeprefix("Low confidence: ")
    return ReportView(
        report_id=row.report_id,
        report_date=row.report_date,
        report_number=row.report_number,
        week_of_term=row.week_of_term,
        students=row.students,
        counts={band: int(row.band_counts.get(band, 0)) for band in BANDS},
        low_confidence=row.confidence == "low",
        warning=reason[:1].upper() + reason[1:] or None,
        drift=row.drift_flagged,
        links={fmt: f"{link}/{row.report_id}?format={fmt}" for fmt in FORMATS},
    )


def _section(
    engine: Engine, period_id: str, period: Period | None, today: date, link: str, principal: Principal | None
) -> PeriodView:
    def shown(course_id: str) -> bool:
        return principal is None or principal.may_see(course_id)

    latest: dict[str, ReportRecord] = {}
    for row in list_reports(engine, period_id=period_id):  # newest first: the first row per course wins
        if shown(row.course_id):
            latest.setdefault(row.course_id, row)
    names = {name for name in course_ids(engine, period_id) if shown(name)}
    titles = {c.course_id: c.title for c in list_courses(engine, period_id)}
    next_due = next_report_date(period, today) if period else None
    views = [
        CourseView(name, _report_view(latest[name], link) if name in latest else None, next_due, titles.get(name))
        for name in sorted(names | set(latest), key=lambda n: ((titles.get(n) or n).casefold(), n))
    ]
    return PeriodView(period_id, period, bool(period and period.contains(today)), next_due, views)


def build_page(
    engine: Engine,
    today: date,
    requested: str | None = None,
    link: str = "/api/v1/reports",
    principal: Principal | None = None,
    home: Path | None = None,
) -> PageView:
    """The page's data for ``today``; ``link`` is the path of the report download endpoint; the courses are
    those ``principal`` may see (None: every course), in the periods that hold one of them; ``home``: where the
    demo loader marks that it is loading."""
    periods = list_periods(engine)
    dated = {p.period_id: p for p in periods}
    undated = [p for p in periods_with_courses(engine) if p not in dated]
    holding = periods_holding(engine, principal)
    shown, notice = periods_to_show(periods, undated, today, requested, holding)
    sections = [_section(engine, pid, dated.get(pid), today, link, principal) for pid in shown]
    others = [
        pid
        for pid in [*reversed([p.period_id for p in periods]), *undated]
        if pid not in shown and (holding is None or pid in holding)
    ]
    loading = home is not None and demo_loading(home)
    return PageView(today, sections, notice or None, others, loading)
