"""Activity logs: a learning platform's export (Moodle, Canvas Data 2, xAPI, OULAD or a generic CSV), counted into
the daily activity history on arrival."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from passcompass_api.csv_files import CSV_CONTENT_TYPES, CSV_ERRORS
from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.schemas import ActivityAccepted
from passcompass_api.security import AUTH_RESPONSES, RATE_RESPONSES, limited
from passcompass_assets.core.access.roles import UPLOADER, Principal
from passcompass_assets.core.activity import Format
from passcompass_assets.core.activity.store import activity_options, import_activity
from passcompass_assets.core.errors import Rejected

router = APIRouter(prefix="/api/v1", tags=["activity"], responses=AUTH_RESPONSES)
# xAPI statements come as JSON; the other formats as CSV.
CONTENT_TYPES = CSV_CONTENT_TYPES | {"application/json", "application/x-ndjson", "application/jsonl"}
Uploader = Annotated[Principal, Depends(limited("uploads", UPLOADER))]
RESPONSES: dict[int | str, dict[str, Any]] = {**CSV_ERRORS, **RATE_RESPONSES}


def _check(file: UploadFile, limit: int, name: str) -> None:
    declared = (file.content_type or "").split(";")[0].strip().lower()
    if declared not in CONTENT_TYPES:
        raise Rejected(415, "unsupported_type", f"{name}: content type {declared!r} is neither CSV nor JSON")
    if file.size is not None and file.size > limit:
        raise Rejected(413, "too_large", f"{name} is larger than the limit of {limit} bytes")


@router.post("/activity", response_model=ActivityAccepted, responses=RESPONSES)
async def upload_activity(
    principal: Uploader,
    settings: SettingsDep,
    engine: EngineDep,
    file: UploadFile,
    format: Annotated[Format, Form(description="the export's layout: moodle, canvas, xapi, oulad or generic")],
    vle: Annotated[UploadFile | None, File(description="OULAD only: vle.csv, each site's activity type")] = None,
) -> ActivityAccepted:
    """Count a learning platform's events: per student, course, day and kind of activity, each event once (a file
    sent again, or increments that overlap, count nothing twice). A file with any wrong row is refused whole,
    naming every row and column; URLs, IP addresses, user agents and names in it are never stored."""
    _check(file, settings.max_activity_bytes, "file")
    if vle is not None:
        _check(vle, settings.max_upload_bytes, "vle")
    receipt = await run_in_threadpool(
        lambda: import_activity(
            engine, file.file, format, companion=vle.file if vle else None, **activity_options(settings)
        )
    )
    return ActivityAccepted.model_validate(asdict(receipt))
