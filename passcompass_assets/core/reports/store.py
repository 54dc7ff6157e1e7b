"""The report store: each report's files written once under its id, indexed in the ``reports`` table."""

from __future__ import annotations

from dataclasses import dataclass
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


def store_report(engine: Engine, reports_dir: Path, report: Report, work_key: str | None = None) -> str:
    """Write the report's files once (never overwritten) and index them; returns the report id. ``work_key``
    names the scheduled date or request the report answers: at most one report per key."""
    location = f"{report.report_id[:2]}/{report.report_id}"
    folder = reports_dir / location
    folder.mkdir(parents=True, exist_ok=False)
    for fmt, render in RENDERERS.items():
        (folder / f"report.{fmt}").write_bytes(render(report))
    header = report.header
    with engine.begin() as conn:
        conn.execute(
            reports.insert().values(
                report_id=report.report_id,
                course_id=header.course_id,
                period_id=header.period_id,
                report_date=header.report_date,
                report_number=header.report_number,
                week_of_term=header.week_of_term,
                generated_at=header.generated_at,
                students=header.students,
                band_counts=header.band_counts,
                model_version=header.model_version,
                confidence=header.confidence,
                header=header.as_dict(),
                location=location,
                work_key=work_key,
            )
        )
    return report.report_id


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
