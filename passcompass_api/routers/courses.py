"""Courses and their grade scales: each course of a period has its own scale and pass mark."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator, model_validator

from passcompass_api.deps import EngineDep, IdOrBlankQuery, IdPath
from passcompass_api.schemas import ErrorOut, Id
from passcompass_api.security import AUTH_RESPONSES, require
from passcompass_assets.core.access.roles import ADMIN, Principal
from passcompass_assets.core.courses import MAX_GRADE, MAX_TITLE_LENGTH, Course, list_courses, set_course
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.ingest.validation import id_problem, text_problem

router = APIRouter(prefix="/api/v1/courses", tags=["courses"], responses=AUTH_RESPONSES)


class CourseIn(BaseModel):
    period_id: Id
    grade_max: float = Field(gt=0, le=MAX_GRADE)
    pass_mark: float = Field(gt=0)
    title: str | None = Field(None, max_length=MAX_TITLE_LENGTH)

    @model_validator(mode="after")
    def pass_mark_on_the_scale(self) -> CourseIn:
        if self.pass_mark > self.grade_max:
            raise ValueError("pass_mark must be at most grade_max")
        return self

    @field_validator("period_id")
    @classmethod
    def an_id(cls, value: str) -> str:
        if problem := id_problem(value) or text_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("title")
    @classmethod
    def one_line_of_text(cls, value: str | None) -> str | None:
        if value is not None and (problem := text_problem(value)):
            raise ValueError(problem)
        return value


class CourseOut(BaseModel):
    course_id: str
    period_id: str
    title: str | None
    grade_max: float
    pass_mark: float
    status: str = Field(
        description="confirmed once set here; unconfirmed while it has the defaults of its first upload"
    )


def _out(course: Course) -> CourseOut:
    return CourseOut(
        course_id=course.course_id,
        period_id=course.period_id,
        title=course.title,
        grade_max=course.grade_max,
        pass_mark=course.pass_mark,
        status="confirmed" if course.confirmed else "unconfirmed",
    )


@router.get("", response_model=list[CourseOut])
def get_courses(
    principal: Annotated[Principal, Depends(require())],
    engine: EngineDep,
    period_id: IdOrBlankQuery = None,
) -> list[CourseOut]:
    """The courses (of a period), with their scales; a course granted to others is not listed."""
    return [_out(c) for c in list_courses(engine, period_id) if principal.may_see(c.course_id)]


@router.put(
    "/{course_id}",
    response_model=CourseOut,
    responses={201: {"model": CourseOut}, 422: {"model": ErrorOut}},
    dependencies=[Depends(require(ADMIN))],
)
async def put_course(
    course_id: IdPath,
    body: CourseIn,
    response: Response,
    engine: EngineDep,
) -> CourseOut:
    """Set a course's grade scale, pass mark and title. Grades above the scale are refused from then on; reports
    already made keep the scale they used, the next ones use this one (and say that it changed). The period must
    be declared first (422 naming the closest declared ones otherwise)."""
    if problem := id_problem(course_id) or text_problem(course_id):
        raise Rejected(422, "invalid_request", f"course_id {problem}", [Problem(problem, None, "course_id")])
    course, created = await run_in_threadpool(
        set_course, engine, course_id, body.period_id, body.grade_max, body.pass_mark, body.title
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _out(course)
