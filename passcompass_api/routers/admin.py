"""Who am I; and for admins: the access log, ending a person's page sessions, erasing a student, the record of
erasures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from passcompass_api.deps import NO_NUL, EngineDep, IdOrBlankQuery, MaybeIdQuery, SettingsDep, TargetIdPath
from passcompass_api.schemas import (
    AccessEntryOut,
    ErasureOut,
    ErasureRecordOut,
    ErrorOut,
    IsoDateTime,
    MeOut,
    SessionsEndedOut,
)
from passcompass_api.security import AUTH_RESPONSES, require
from passcompass_assets.core.access.audit import list_access
from passcompass_assets.core.access.roles import ADMIN, Principal
from passcompass_assets.core.access.sessions import end_sessions
from passcompass_assets.core.privacy.erasure import erase_student, list_erasures

router = APIRouter(prefix="/api/v1", responses=AUTH_RESPONSES)


@router.get("/me", response_model=MeOut, tags=["access"])
def me(principal: Annotated[Principal, Depends(require())]) -> MeOut:
    """The credential's principal: its id (as the access log names it), roles and granted courses."""
    return MeOut(
        principal=principal.id,
        roles=sorted(principal.roles),
        courses=sorted(principal.courses),
        all_courses=principal.all_courses,
        via=principal.via,
    )


@router.get("/audit", response_model=list[AccessEntryOut], tags=["access"])
def audit(
    principal: Annotated[Principal, Depends(require(ADMIN))],
    engine: EngineDep,
    since: IsoDateTime | None = None,
    who: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="a principal, e.g. token:0a1b2c3d4e5f")
    ] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    course_id: IdOrBlankQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccessEntryOut]:
    """The access log, newest first: every download of a report, evaluation or prediction (who, what, when)."""
    entries = list_access(engine, since=since, principal=who, action=action, course_id=course_id, limit=limit)
    return [AccessEntryOut.model_validate(entry, from_attributes=True) for entry in entries]


@router.delete("/sessions", response_model=SessionsEndedOut, tags=["access"], responses={422: {"model": ErrorOut}})
def end_principal_sessions(
    principal: Annotated[Principal, Depends(require(ADMIN))],
    engine: EngineDep,
    who: Annotated[
        str,
        Query(
            alias="principal",
            min_length=7,
            max_length=200,
            pattern="^(token|oidc):[^\\x00]+$",
            description="whose sessions: token:<token_id> or oidc:<subject>, as GET /api/v1/audit names them",
        ),
    ],
) -> SessionsEndedOut:
    """End every page session of a principal now (its cookies stop working); its token, if any, stays valid
    (revoke that with `passcompass token revoke`)."""
    return SessionsEndedOut(principal=who, ended=end_sessions(engine, who))


@router.delete(
    "/students/{user_id}",
    response_model=ErasureOut,
    tags=["access"],
    responses={422: {"model": ErrorOut}},
)
async def erase(
    principal: Annotated[Principal, Depends(require(ADMIN))],
    engine: EngineDep,
    settings: SettingsDep,
    user_id: TargetIdPath,
    course_id: MaybeIdQuery = None,
) -> ErasureOut:
    """Erase a student (in one course, with ``course_id``) from everything the platform keeps: records and their
    history, final grades, landed files, reports, evaluations, drift pages, log lines. Recorded without the id."""
    erasure = await run_in_threadpool(
        lambda: erase_student(settings, engine, user_id, course_id=course_id, actor=principal.id)
    )
    return ErasureOut(erasure_id=erasure.erasure_id, course_id=course_id, removed=dict(sorted(erasure.counts.items())))


@router.get("/erasures", response_model=list[ErasureRecordOut], tags=["access"])
def erasures(
    principal: Annotated[Principal, Depends(require(ADMIN))],
    engine: EngineDep,
    scope: Annotated[str | None, Query(pattern="^(student|retention)$")] = None,
) -> list[ErasureRecordOut]:
    """Erasures and retention purges, newest first: who, when, where and how many rows; never the erased id."""
    return [ErasureRecordOut.model_validate(r, from_attributes=True) for r in list_erasures(engine, scope=scope)]
