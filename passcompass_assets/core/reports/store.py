"""The report store: each report's files written once under its id, indexed in the ``reports`` table."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import reports
from passcompass_assets.core.reports.build import Report
from passcompass_assets.core.reports.render import RENDERERS


@dataclass(frozen=True)
class ReportRecord:
    """One stored report, as the index knows it."""

    report_id: str
    course_id: str
    period_id: str
    report_date: date
    report_number: int
    week_of_term: int
    generated_at: datetime
    students: int
    band_counts: dict[str, int]
    model_version: str | None
    confidence: str
    header: dict[str, object]  # the report's header, as in its JSON file
    location: str  # folder of its files, relative to the report store
    work_key: str | None = None  # the scheduled date or request that made it

    def file(self, reports_dir: Path, fmt: str) -> Path:
        return reports_dir / self.location / f"report.{fmt}"

    @property
    def warning(self) -> str | None:
        """Why to read this report with care (no validated model), or None."""
        warning = self.header.get("warning")
        return str(warning) if warning else None

    @property
    def drift_flagged(self) -> str | None:
        """The drift summary when drift was flagged for this report, else None."""
        drift = self.header.get("drift")
        return str(drift.get("summary")) if isinstance(drift, dict) and drift.get("flagged") else None


def _record(row: sa.Row) -> ReportRecord:
    return ReportRecord(**{name: getattr(row, name) for name in ReportRecord.__dataclass_fields__})


def report_on(engine: Engine, course_id: str, period_id: str, day: date) -> ReportRecord | None:
    """The course period's report for ``day``, if there is one (the newest, for stores from before one per date)."""
    records = [r for r in list_reports(engine, course_id, period_id) if r.report_date == day]
    return records[0] if records else None


def number_on(engine: Engine, course_id: str, period_id: str, day: date) -> int:
    """Report N is the N-th report date of the course's term: 1 + the distinct earlier dates with a report."""
    return 1 + len({r.report_date for r in list_reports(engine, course_id, period_id) if r.report_date < day})


def _write_files(folder: Path, report: Report) -> None:
    """Each file written under a temporary name, then moved into place: a reader sees the old file or the new."""
    folder.mkdir(parents=True, exist_ok=True)
    for fmt, render in RENDERERS.items():
        partial = folder / f".report.{fmt}.partial"
        partial.write_bytes(render(report))
        partial.replace(folder / f"report.{fmt}")


def store_report(engine: Engine, reports_dir: Path, report: Report, work_key: str | None = None) -> str:
    """Write the report's files and index them; returns the report id. One report per course and date: a report
    for a date already reported replaces that report (same id and address, the newer data). ``work_key`` names the
    scheduled date or request the report answers: at most one report per key."""
    header = report.header
    # Numbered here, where the term's reports are known: the N-th report date of the course's term.
    header = report.header = replace(
        header, report_number=number_on(engine, header.course_id, header.period_id, header.report_date)
    )
    existing = report_on(engine, header.course_id, header.period_id, header.report_date)
    if existing is not None:
        report.report_id = existing.report_id
    location = existing.location if existing else f"{report.report_id[:2]}/{report.report_id}"
    if existing is None:
        (reports_dir / location).mkdir(parents=True, exist_ok=False)  # a fresh id: never someone else's folder
    _write_files(reports_dir / location, report)
    values = {
        "report_number": header.report_number,
        "week_of_term": header.week_of_term,
        "generated_at": header.generated_at,
        "students": header.students,
        "band_counts": header.band_counts,
        "model_version": header.model_version,
        "confidence": header.confidence,
        "header": header.as_dict(),
    }
    with engine.begin() as conn:
        if existing is None:
            conn.execute(
                reports.insert().values(
                    report_id=report.report_id,
                    course_id=header.course_id,
                    period_id=header.period_id,
                    report_date=header.report_date,
                    location=location,
                    work_key=work_key,
                    **values,
                )
            )
        else:
            key = {"work_key": work_key} if work_key else {}
            conn.execute(reports.update().where(reports.c.report_id == existing.report_id).values(**values, **key))
        _renumber(conn, header.course_id, header.period_id)
    return report.report_id


def _renumber(conn: sa.Connection, course_id: str, period_id: str) -> None:
    """Report numbers follow the term's report dates: a report made later for an earlier date (a backfill) moves
    the later ones up (their index and header; their files keep the number they were made with)."""
    rows = conn.execute(
        sa.select(reports.c.report_id, reports.c.report_date, reports.c.report_number, reports.c.header)
        .where(reports.c.course_id == course_id, reports.c.period_id == period_id)
        .order_by(reports.c.report_date)
    ).all()
    dates = sorted({row.report_date for row in rows})
    for row in rows:
        number = dates.index(row.report_date) + 1
        if number != row.report_number:
            header = {**(row.header or {}), "report_number": number}
            conn.execute(
                reports.update().where(reports.c.report_id == row.report_id).values(report_number=number, header=header)
            )


def one_per_date(records: list[ReportRecord]) -> list[ReportRecord]:
    """The newest report of each course, period and date (stores from before one report per date may hold more)."""
    newest: dict[tuple[str, str, date], ReportRecord] = {}
    for record in records:
        key = (record.course_id, record.period_id, record.report_date)
        if key not in newest or record.generated_at > newest[key].generated_at:
            newest[key] = record
    return [r for r in records if newest[(r.course_id, r.period_id, r.report_date)] is r]


def list_reports(engine: Engine, course_id: str | None = None, period_id: str | None = None) -> list[ReportRecord]:
    """Reports, newest first (by report date, then by when they were made)."""
    query = sa.select(reports).order_by(reports.c.report_date.desc(), reports.c.generated_at.desc())
    if course_id:
        query = query.where(reports.c.course_id == course_id)
    if period_id:
        query = query.where(reports.c.period_id == period_id)
    with engine.connect() as conn:
        return [_record(row) for row in conn.execute(query)]


def get_report(engine: Engine, report_id: str) -> ReportRecord | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(reports).where(reports.c.report_id == report_id)).first()
    return _record(row) if row else None


def report_for_work(engine: Engine, work_key: str) -> ReportRecord | None:
    """The report made for a scheduled date or request, if one was (a retried run must not make a second)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(reports).where(reports.c.work_key == work_key)).first()
    return _record(row) if row else None


def reported_course_periods(engine: Engine) -> set[tuple[str, str]]:
    """(course_id, period_id) of every course period with at least one report."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(reports.c.course_id, reports.c.period_id).distinct())
        return {(row.course_id, row.period_id) for row in rows}
