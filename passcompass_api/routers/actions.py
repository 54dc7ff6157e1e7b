"""Actions staff take on a student's flag: record one (instructors of the course), list them (CSV or JSON)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from passcompass_api.deps import EngineDep, IdQuery, MaybeIdQuery, SettingsDep
from passcompass_api.downloads import content_disposition
from passcompass_api.schemas import ActionIn, ActionOut, ErrorOut
from passcompass_api.security import AUTH_RESPONSES, forbidden, require, require_course
from passcompass_assets.core.access.audit import record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, VIEWER, Principal
from passcompass_assets.core.actions import Action, list_actions
from passcompass_assets.core.reports.render import FORMULA_PREFIXES
from passcompass_assets.core.workspace import record_student_action

router = APIRouter(prefix="/api/v1/actions", tags=["actions"], responses=AUTH_RESPONSES)
ACTIONS_DOWNLOAD = "actions.download"
CSV_COLUMNS = list(ActionOut.model_fields)


def _out(action: Action) -> ActionOut:
    return ActionOut(
        action_id=action.action_id,
        course_id=action.course_id,
        period_id=action.period_id,
        user_id=action.user_id,
        kind=action.kind,  # type: ignore[arg-type]  # stored only through parse_kind
        note=action.note,
        recorded_by=action.actor,
        recorded_at=action.recorded_at,
        report_id=action.report_id,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ActionOut,
    responses={404: {"model": ErrorOut, "description": "no such student in the course's period"}},
)
async def record(
    body: ActionIn,
    principal: Annotated[Principal, Depends(require(INSTRUCTOR))],
    engine: EngineDep,
    settings: SettingsDep,
) -> ActionOut:
    """Record that staff acted on a student's flag; who (the credential's principal) and when (now) are kept."""
    if not principal.may_see(body.course_id):
        raise forbidden(f"the course {body.course_id!r} is not granted to this credential", "course_not_granted")
    action = await run_in_threadpool(
        lambda: record_student_action(
            engine,
            settings.reports_dir,
            course_id=body.course_id,
            period_id=body.period_id,
            user_id=body.user_id,
            kind=body.kind,
            actor=principal.id,
            note=body.note,
        )
    )
    return _out(action)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a note is free text)."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@router.get(
    "",
    response_model=list[ActionOut],
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def get_actions(
    principal: Annotated[Principal, Depends(require_course(INSTRUCTOR, VIEWER))],
    engine: EngineDep,
    course_id: IdQuery,
    period_id: MaybeIdQuery = None,
    user_id: MaybeIdQuery = None,
    format: Literal["json", "csv"] = "json",
) -> list[ActionOut] | Response:
    """The course's actions (of one period, of one student), oldest first."""
    actions = [_out(a) for a in list_actions(engine, course_id, period_id, user_id)]
    target = f"actions:{course_id}|{period_id or '*'}?format={format}"  # never the student: the log names no one
    record_access(engine, principal, ACTIONS_DOWNLOAD, target, course_id)
    if format == "json":
        return actions
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for action in actions:
        writer.writerow([_cell(getattr(action, column)) for column in CSV_COLUMNS])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers=content_disposition(f"passcompass_actions_{course_id}_{period_id or 'all'}.csv"),
    )
