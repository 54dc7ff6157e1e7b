"""Report downloads (CSV, JSON, HTML) and on-demand report requests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.engine import Engine

from passcompass_api.dependencies import get_db, get_settings
from passcompass_api.schemas import ErrorOut, ReportRequested, ReportSummary
from passcompass_assets.core.db import report_requests
from passcompass_assets.core.periods import active_periods
from passcompass_assets.core.reporting import (
    FORMATS,
    course_periods,
    file_name,
    get_report,
    latest_report,
    list_reports,
    report_file,
)
from passcompass_assets.core.settings import Settings

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Format = Literal["csv", "json", "html"]
CourseId = Annotated[str, Query(min_length=1, max_length=128)]


def _summary(row: object, request: Request) -> ReportSummary:
    base = str(request.url_for("get_report_by_id", report_id=row.report_id))  # type: ignore[attr-defined]
    return ReportSummary(
        report_id=row.report_id,  # type: ignore[attr-defined]
        course_id=row.course_id,  # type: ignore[attr-defined]
        period_id=row.period_id,  # type: ignore[attr-defined]
        report_date=row.report_date,  # type: ignore[attr-defined]
        report_number=row.report_number,  # type: ignore[attr-defined]
        week_of_term=row.week_of_term,  # type: ignore[attr-defined]
        generated_at=row.generated_at,  # type: ignore[attr-defined]
        students=row.students,  # type: ignore[attr-defined]
        band_counts=row.band_counts,  # type: ignore[attr-defined]
        model_version=row.model_version,  # type: ignore[attr-defined]
        confidence=row.confidence,  # type: ignore[attr-defined]
        links={fmt: f"{base}?format={fmt}" for fmt in FORMATS},
    )


def _download(row: object, fmt: Format, settings: Settings) -> FileResponse:
    path = report_file(settings.reports_dir, row, fmt)
    if not path.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the report's file is missing from the report store")
    header = {"course_id": row.course_id, "period_id": row.period_id, "report_date": row.report_date}  # type: ignore[attr-defined]
    disposition = "inline" if fmt == "json" else "attachment"
    return FileResponse(
        path,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'{disposition}; filename="{file_name(header, fmt)}"'},
    )


@router.get("", response_model=list[ReportSummary])
def get_reports(
    request: Request,
    engine: Annotated[Engine, Depends(get_db)],
    course_id: CourseId,
    period_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[ReportSummary]:
    """Reports of a course, newest first."""
    return [_summary(row, request) for row in list_reports(engine, course_id, period_id)]


@router.get(
    "/latest",
    response_class=FileResponse,
    response_model=None,
    responses={200: {"content": {t: {} for t in FORMATS.values()}}, 404: {"model": ErrorOut}},
)
def get_latest_report(
    engine: Annotated[Engine, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    course_id: CourseId,
    period_id: Annotated[str | None, Query(max_length=128)] = None,
    format: Format = "json",
) -> FileResponse | JSONResponse:
    """The most recent report of the current period (or of ``period_id``)."""
    latest = latest_report(engine, course_id, period_id, date.today())
    if latest.row is None:
        return JSONResponse(
            status_code=status.HTTP_404_NOT_FOUND,
            content={
                "error": "no_report_yet",
                "detail": latest.explanation(course_id),
                "problems": [],
                "next_report_due": latest.next_due.isoformat() if latest.next_due else None,
            },
        )
    return _download(latest.row, format, settings)


@router.get("/{report_id}", response_class=FileResponse, response_model=None, responses={404: {"model": ErrorOut}})
def get_report_by_id(
    report_id: str,
    engine: Annotated[Engine, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    format: Format = "json",
) -> FileResponse:
    row = get_report(engine, report_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report with id {report_id!r}")
    return _download(row, format, settings)


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=ReportRequested, responses={404: {"model": ErrorOut}}
)
def request_report(
    engine: Annotated[Engine, Depends(get_db)],
    course_id: CourseId,
    period_id: Annotated[str | None, Query(max_length=128)] = None,
) -> ReportRequested:
    """Ask for a report now; the report-request sensor turns it into a run."""
    periods = course_periods(engine, course_id)
    if not periods:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no data for course {course_id!r} yet")
    if period_id is None:
        current = {p.period_id for p in active_periods(engine, date.today())}
        period_id = next((p for p in periods if p in current), periods[-1])
    elif period_id not in periods:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"course {course_id!r} has no data in period {period_id!r}")
    request_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            report_requests.insert().values(
                request_id=request_id, course_id=course_id, period_id=period_id, requested_at=datetime.now(UTC)
            )
        )
    return ReportRequested(request_id=request_id, course_id=course_id, period_id=period_id, status="requested")
