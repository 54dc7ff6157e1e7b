"""How right were the reports: the evaluation of a course's period once its final grades are in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from passcompass_api.deps import EngineDep, IdQuery, SettingsDep
from passcompass_api.downloads import content_disposition
from passcompass_api.schemas import ErrorOut
from passcompass_api.security import AUTH_RESPONSES, require_course
from passcompass_assets.core.access.audit import EVALUATION_DOWNLOAD, record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, VIEWER, Principal
from passcompass_assets.core.reports.outcomes import find_evaluation

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"], responses=AUTH_RESPONSES)
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8"}


@router.get("", response_class=FileResponse, response_model=None, responses={404: {"model": ErrorOut}})
def get_evaluation(
    principal: Annotated[Principal, Depends(require_course(INSTRUCTOR, VIEWER))],
    engine: EngineDep,
    settings: SettingsDep,
    course_id: IdQuery,
    period_id: IdQuery,
    format: Literal["json", "html"] = "json",
    download: bool = False,
) -> FileResponse:
    """Per report: accuracy, ROC AUC, Brier, high-risk precision and recall, grade RMSE; and the lead time."""
    found = find_evaluation(settings.reports_dir, course_id, period_id)
    if found is None or not found[format].exists():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no evaluation for course {course_id!r} in period {period_id!r} yet: it is made once final grades arrive",
        )
    path = found[format]
    name = f"passcompass_evaluation_{course_id}_{period_id}.{format}"
    # A page to read; ``?download=1`` saves it.
    response = FileResponse(
        path, media_type=MEDIA[format], headers=content_disposition(name, "attachment" if download else "inline")
    )
    # Logged once the answer is made: a download that fails before it is served is not in the access log.
    record_access(
        engine, principal, EVALUATION_DOWNLOAD, f"evaluation:{course_id}|{period_id}?format={format}", course_id
    )
    return response
