"""How right were the reports: the evaluation of a course's period once its final grades are in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from passcompass_api.deps import EngineDep, IdQuery, SettingsDep
from passcompass_api.schemas import ErrorOut
from passcompass_api.security import AUTH_RESPONSES, require_course
from passcompass_assets.core.access.audit import EVALUATION_DOWNLOAD, record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, VIEWER, Principal
from passcompass_assets.core.reports.outcomes import evaluation_file_stem, find_evaluation

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
    target = f"evaluation:{course_id}|{period_id}?format={format}"
    record_access(engine, principal, EVALUATION_DOWNLOAD, target, course_id)
    disposition = "attachment" if download else "inline"  # a page to read; ``?download=1`` saves it
    filename = f"passcompass_evaluation_{evaluation_file_stem(course_id, period_id)}.{format}"
    return FileResponse(
        path, media_type=MEDIA[format], headers={"Content-Disposition": f'{disposition}; filename="{filename}"'}
    )
