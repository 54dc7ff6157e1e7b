"""Report downloads (CSV, JSON, HTML) and on-demand report requests."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.engine import Engine

from passcompass_api.deps import EngineDep, IdOrBlankQuery, IdQuery, SettingsDep
from passcompass_api.downloads import content_disposition
from passcompass_api.schemas import ErrorOut, ReportRequested, ReportSummary, ReportWorkOut
from passcompass_api.security import (
    AUTH_RESPONSES,
    RATE_RESPONSES,
    ReportAccess,
    limited,
    require_course,
    require_report,
)
from passcompass_assets.core.access.audit import REPORT_DOWNLOAD, record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, VIEWER, Principal
from passcompass_assets.core.reports.period_choice import latest_report
from passcompass_assets.core.reports.render import FORMATS, file_name
from passcompass_assets.core.reports.requests import request_report as queue_report
from passcompass_assets.core.reports.store import ReportRecord, list_reports
from passcompass_assets.core.reports.tasks import course_tasks
from passcompass_assets.core.settings import Settings

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=AUTH_RESPONSES)
# Readers of a course's reports: instructors and viewers of it (and admins).
CourseReader = Annotated[Principal, Depends(require_course(INSTRUCTOR, VIEWER))]
Format = Literal["csv", "json", "html"]


def _summary(record: ReportRecord, request: Request) -> ReportSummary:
    base = str(request.url_for("get_report_by_id", report_id=record.report_id))
    return ReportSummary(
        report_id=record.report_id,
        course_id=record.course_id,
        period_id=record.period_id,
        report_date=record.report_date,
        report_number=record.report_number,
        week_of_term=record.week_of_term,
        generated_at=record.generated_at,
        students=record.students,
        band_counts=record.band_counts,
        model_version=record.model_version,
        confidence=record.confidence,
        links={fmt: f"{base}?format={fmt}" for fmt in FORMATS},
    )


def _download(
    record: ReportRecord, fmt: Format, settings: Settings, engine: Engine, principal: Principal, download: bool = False
) -> FileResponse:
    path = record.file(settings.reports_dir, fmt)
    if not path.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the report's file is missing from the report store")
    name = file_name(record.course_id, record.period_id, record.report_date, fmt)
    # HTML and JSON open in the browser; a CSV (or ``?download=1``) is saved as a file.
    disposition = content_disposition(name, "attachment" if download or fmt == "csv" else "inline")
    response = FileResponse(path, media_type=FORMATS[fmt], headers=disposition)
    # Logged once the answer is made: a download that fails before it is served is not in the access log.
    record_access(engine, principal, REPORT_DOWNLOAD, f"report:{record.report_id}?format={fmt}", record.course_id)
    return response


@router.get("", response_model=list[ReportSummary])
def get_reports(
    principal: CourseReader,
    request: Request,
    engine: EngineDep,
    course_id: IdQuery,
    period_id: IdOrBlankQuery = None,
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
    principal: CourseReader,
    engine: EngineDep,
    settings: SettingsDep,
    course_id: IdQuery,
    period_id: IdOrBlankQuery = None,
    format: Format = "json",
    download: bool = False,
) -> FileResponse | JSONResponse:
    """The most recent report of the current period (or of ``period_id``)."""
    latest = latest_report(engine, course_id, period_id, date.today())
    if latest.record is None:
        return JSONResponse(
            status_code=status.HTTP_404_NOT_FOUND,
            content={
                "error": "no_report_yet",
                "detail": latest.explanation(course_id),
                "problems": [],
                "next_report_due": latest.next_due.isoformat() if latest.next_due else None,
            },
        )
    return _download(latest.record, format, settings, engine, principal, download)


@router.get("/work", response_model=list[ReportWorkOut])
def get_report_work(
    principal: CourseReader, engine: EngineDep, course_id: IdQuery, period_id: IdOrBlankQuery = None
) -> list[ReportWorkOut]:
    """The course's reports to make and made (scheduled, requested, by an operator), newest first: each one's
    status, failed attempts and why, and its report once made."""
    return [
        ReportWorkOut(
            work=task.work_key,
            course_id=task.course_id,
            period_id=task.period_id,
            report_date=task.report_date,
            request_id=task.request_id,
            status=task.status,  # type: ignore[arg-type]  # the ledger's three words
            attempts_failed=task.failures,
            will_retry=task.status == "failed" and not task.given_up,
            error=task.error,
            report_id=task.report_id,
            queued_at=task.queued_at,
            finished_at=task.finished_at,
        )
        for task in course_tasks(engine, course_id, period_id)
    ]


@router.get("/{report_id}", response_class=FileResponse, response_model=None, responses={404: {"model": ErrorOut}})
def get_report_by_id(
    access: Annotated[ReportAccess, Depends(require_report(INSTRUCTOR, VIEWER))],
    report_id: str,
    engine: EngineDep,
    settings: SettingsDep,
    format: Format = "json",
    download: bool = False,
) -> FileResponse:
    return _download(access.record, format, settings, engine, access.principal, download)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportRequested,
    responses={404: {"model": ErrorOut}, **RATE_RESPONSES},
)
def request_report(
    principal: Annotated[Principal, Depends(limited("report_requests", INSTRUCTOR, course_param="course_id"))],
    engine: EngineDep,
    course_id: IdQuery,
    period_id: IdOrBlankQuery = None,
) -> ReportRequested:
    """Ask for a report now; the report sensor makes it (``GET /api/v1/reports/work`` follows it)."""
    queued = queue_report(engine, course_id, period_id, date.today())
    return ReportRequested(
        request_id=queued.request_id, course_id=queued.course_id, period_id=queued.period_id, status="requested"
    )
