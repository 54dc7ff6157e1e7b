"""Rosters: a student information system's OneRoster CSV export (a zip) declaring terms, courses and their
students; a dry run previews the changes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from passcompass_api.deps import EngineDep, LandingDep, SettingsDep
from passcompass_api.schemas import ErrorOut, RosterOut
from passcompass_api.security import AUTH_RESPONSES, RATE_RESPONSES, limited
from passcompass_assets.core.access.roles import ADMIN, Principal
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.uploads import UploadPolicy
from passcompass_assets.core.rosters.receive import receive_roster

router = APIRouter(prefix="/api/v1", tags=["rosters"], responses=AUTH_RESPONSES)
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream", "multipart/x-zip", ""}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": RosterOut, "description": "dry_run=true: what the roster would change; nothing was stored"},
    400: {"model": ErrorOut, "description": "not a zip, or a file in it is not a well-formed CSV"},
    413: {"model": ErrorOut, "description": "file too large"},
    415: {"model": ErrorOut, "description": "not a zip"},
    422: {"model": ErrorOut, "description": "readable but invalid: see problems (file: column, row)"},
    **RATE_RESPONSES,
}
# Rosters declare terms and courses: an admin's (a data officer's) work.
Admin = Annotated[Principal, Depends(limited("uploads", ADMIN))]


@router.post("/rosters", status_code=status.HTTP_202_ACCEPTED, response_model=RosterOut, responses=RESPONSES)
async def upload_roster(
    principal: Admin,
    settings: SettingsDep,
    engine: EngineDep,
    landing: LandingDep,
    file: UploadFile,
    response: Response,
    dry_run: Annotated[bool, Form(description="answer what the roster would change; store nothing")] = False,
) -> RosterOut:
    """A OneRoster 1.1 or 1.2 CSV export (bulk or delta, as its manifest says): terms become periods, classes
    courses, student enrolments the courses' students (withdrawn from an enrolment's end date, or when it is
    deleted). Only ``sourcedId`` identifies a student; ``users.csv`` is never read. The students arrive as an
    upload (``upload_id``), applied like any other."""
    declared = (file.content_type or "").split(";")[0].strip().lower()
    if declared not in ZIP_TYPES:
        raise Rejected(415, "not_a_zip", f"content type {declared!r} is not a zip; send the OneRoster CSV zip")
    if file.size is not None and file.size > settings.max_upload_bytes:
        raise Rejected(413, "too_large", f"the file is larger than the limit of {settings.max_upload_bytes} bytes")
    content = await file.read()
    policy = UploadPolicy.from_settings(settings)
    outcome = await run_in_threadpool(
        lambda: receive_roster(
            engine, landing, policy, content, today=date.today(), pass_mark=settings.default_pass_mark, dry_run=dry_run
        )
    )
    if dry_run:
        response.status_code = status.HTTP_200_OK
    return RosterOut.model_validate(asdict(outcome))
