"""Upload endpoints: student data at any time, final grades at the end of a course."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from passcompass_api.csv_files import CSV_ERRORS, read_csv_file
from passcompass_api.deps import EngineDep, IdOrBlankForm, LandingDep, SettingsDep
from passcompass_api.schemas import ErrorOut, UploadAccepted, UploadPreview, UploadStatus
from passcompass_api.security import AUTH_RESPONSES, RATE_RESPONSES, limited, require
from passcompass_assets.core.access.roles import UPLOADER, Principal
from passcompass_assets.core.ingest.formats import formats
from passcompass_assets.core.ingest.preview import preview_upload
from passcompass_assets.core.ingest.uploads import UploadPolicy, find_upload
from passcompass_assets.core.ingest.validation import UploadKind

router = APIRouter(prefix="/api/v1", tags=["uploads"], responses=AUTH_RESPONSES)


class UploadRequest:
    """What both upload endpoints take: the multipart fields and where the upload goes."""

    def __init__(
        self,
        file: UploadFile,
        settings: SettingsDep,
        engine: EngineDep,
        landing: LandingDep,
        course_id: IdOrBlankForm = None,
        period_id: IdOrBlankForm = None,
        dry_run: Annotated[bool, Form(description="answer what the upload would do; store nothing")] = False,
        confirm_before_end: Annotated[
            bool, Form(description="final grades for a period that has not ended (a course ended early)")
        ] = False,
        decimal_separator: Annotated[str | None, Form(max_length=1, description=". or ,")] = None,
        date_format: Annotated[
            str | None, Form(max_length=10, description="YYYY-MM-DD (default), DD/MM/YYYY, MM/DD/YYYY or DD.MM.YYYY")
        ] = None,
    ) -> None:
        self.file, self.settings, self.engine, self.landing = file, settings, engine, landing
        self.course_id = (course_id or "").strip() or None
        self.period_id = (period_id or "").strip() or None
        self.dry_run, self.confirm_before_end = dry_run, confirm_before_end
        self.formats = formats(decimal_separator, date_format)

    async def receive(self, kind: UploadKind, response: Response) -> UploadAccepted | UploadPreview:
        content = await read_csv_file(self.file, self.settings.max_upload_bytes)
        options: dict[str, Any] = {
            "kind": kind,
            "course_id": self.course_id,
            "period_id": self.period_id,
            "formats": self.formats,
            "confirm_before_end": self.confirm_before_end,
        }
        policy = UploadPolicy.from_settings(self.settings)
        if self.dry_run:
            preview = await run_in_threadpool(
                lambda: preview_upload(self.engine, content, **options, **policy.options())
            )
            response.status_code = status.HTTP_200_OK
            return UploadPreview.model_validate(asdict(preview))
        receipt = await run_in_threadpool(lambda: policy.receive(self.engine, self.landing, content, **options))
        response.status_code = status.HTTP_200_OK if receipt.is_duplicate else status.HTTP_202_ACCEPTED
        return UploadAccepted.model_validate(asdict(receipt))


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": UploadAccepted | UploadPreview,
        "description": "the same file was already received, or (dry_run=true) what the upload would do",
    },
    **CSV_ERRORS,
    **RATE_RESPONSES,
}
# Uploaders (and admins), at most PASSCOMPASS_UPLOAD_RATE_PER_MINUTE uploads a minute each.
Uploader = Annotated[Principal, Depends(limited("uploads", UPLOADER))]


@router.post(
    "/uploads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted | UploadPreview,
    responses=RESPONSES,
)
async def upload_students(
    principal: Uploader, upload: Annotated[UploadRequest, Depends()], response: Response
) -> UploadAccepted | UploadPreview:
    """Upload a CSV of student data. Columns outside the feature catalog are dropped and named; a final-grade
    column is not stored (final grades come only through ``POST /api/v1/final-grades``)."""
    return await upload.receive("students", response)


@router.post(
    "/final-grades",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted | UploadPreview,
    responses=RESPONSES,
)
async def upload_final_grades(
    principal: Uploader, upload: Annotated[UploadRequest, Depends()], response: Response
) -> UploadAccepted | UploadPreview:
    """Upload end-of-course grades: ``user_id``, ``course_id`` (column or form field), ``final_grade``. Before the
    period's end only with ``confirm_before_end=true``."""
    return await upload.receive("final_grades", response)


@router.get(
    "/uploads/{upload_id}",
    response_model=UploadStatus,
    responses={404: {"model": ErrorOut}},
    dependencies=[Depends(require(UPLOADER))],
)
def get_upload(upload_id: str, engine: EngineDep) -> UploadStatus:
    receipt = find_upload(engine, upload_id)
    if receipt is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no upload with id {upload_id!r}")
    return UploadStatus.model_validate(asdict(receipt))
