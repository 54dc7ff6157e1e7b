"""The instructor's workspace: a course's students (``/courses/{course_id}``) and one student's term
(``/courses/{course_id}/students/{user_id}``), where instructors record what they did.

The pages are for the instructors and viewers of the course; each view is logged in the access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine

from passcompass_api.deps import EngineDep, IdPath, MaybeIdQuery, SettingsDep
from passcompass_api.web.filters import grade
from passcompass_api.web.gate import signed_in
from passcompass_api.web.legend import legend
from passcompass_api.web.render import render
from passcompass_api.web.session import root_of
from passcompass_api.web.sparkline import sparkline
from passcompass_assets.core.access.audit import record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, VIEWER, Principal
from passcompass_assets.core.actions import KINDS, LABELS
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH
from passcompass_assets.core.reports.render import FORMATS
from passcompass_assets.core.settings import Settings
from passcompass_assets.core.workspace import Band, Point, Show, course_page, student_page

router = APIRouter(include_in_schema=False)
COURSE_PAGE = "page.course"
STUDENT_PAGE = "page.student"


def _refusal(principal: Principal, course_id: str, root: str) -> HTMLResponse | None:
    """The page instead of a course's workspace when the principal may not read it."""
    if not principal.has(INSTRUCTOR, VIEWER):
        detail = "This page lists students: it is for the instructors and viewers of the course."
    elif not principal.may_see(course_id):
        detail = "This course is not granted to you."
    else:
        return None
    context: dict[str, object] = {"title": "Not allowed", "detail": detail, "root": root, "who": principal.label}
    return render("workspace_error.html", context, 403)


async def _course_reader(
    request: Request, settings: Settings, engine: Engine, course_id: str
) -> tuple[Principal, dict[str, object]] | Response:
    """The signed-in reader of the course and the pages' context, or the response instead of the page."""
    principal = await signed_in(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    context = _context(request, principal, course_id)
    refused = _refusal(principal, course_id, str(context["root"]))
    return refused if refused is not None else (principal, context)


def _context(request: Request, principal: Principal, course_id: str) -> dict[str, object]:
    root = root_of(request)
    return {
        "root": root,
        "who": principal.label,
        "csrf": principal.csrf or "",
        "may_act": principal.has(INSTRUCTOR) and principal.may_see(course_id),
        "actions_url": root + "/api/v1/actions",
        "kinds": [(kind, LABELS[kind]) for kind in KINDS],
        "course_url": f"{root}/courses/{quote(course_id, safe='')}",
    }


@router.get("/courses/{course_id}", response_class=HTMLResponse, response_model=None)
async def course_workspace(
    request: Request,
    course_id: IdPath,
    engine: EngineDep,
    settings: SettingsDep,
    period_id: MaybeIdQuery = None,
    band: Band = "all",
    show: Show = "all",
    q: Annotated[str, Query(max_length=MAX_ID_LENGTH)] = "",  # a part of a student id
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Every student of the course's latest report, highest risk first, a page at a time."""
    reader = await _course_reader(request, settings, engine, course_id)
    if isinstance(reader, Response):
        return reader
    principal, context = reader
    view = await run_in_threadpool(
        lambda: course_page(
            engine, settings.reports_dir, course_id, period_id, date.today(), band=band, show=show, query=q, page=page
        )
    )
    if view is None:
        detail = f"There is no course {course_id!r}" + (f" in period {period_id!r}." if period_id else ".")
        return render("workspace_error.html", {**context, "title": "No such course", "detail": detail}, 404)
    await run_in_threadpool(
        record_access, engine, principal, COURSE_PAGE, f"course-page:{view.course_id}|{view.period_id}", course_id
    )
    bands = legend(settings, view.report)

    def link(**changes: object) -> str:
        values = {"period_id": view.period_id, "band": view.band, "show": view.show, "q": view.query, "page": 1}
        values.update(changes)
        kept = {k: v for k, v in values.items() if v not in ("", "all", None) and not (k == "page" and v == 1)}
        return str(context["course_url"]) + (f"?{urlencode(kept)}" if kept else "")

    def student_url(user_id: str) -> str:
        return f"{context['course_url']}/students/{quote(user_id, safe='')}?{urlencode({'period_id': view.period_id})}"

    report_id = view.report.report_id if view.report else ""
    page_context = {
        **context,
        "view": view,
        "link": link,
        "student_url": student_url,
        "legend": bands,
        "spark": lambda points: sparkline(points, bands.high),
        "grade": lambda value: grade(value, view.scale),
        "downloads": {fmt: f"{context['root']}/api/v1/reports/{report_id}?format={fmt}" for fmt in FORMATS},
    }
    return render("course.html", page_context)


@router.get("/courses/{course_id}/students/{user_id}", response_class=HTMLResponse, response_model=None)
async def student_workspace(
    request: Request,
    course_id: IdPath,
    user_id: IdPath,
    engine: EngineDep,
    settings: SettingsDep,
    period_id: MaybeIdQuery = None,
) -> Response:
    """One student's reports over the term, with their signals and reasons, and the actions recorded, in time order."""
    reader = await _course_reader(request, settings, engine, course_id)
    if isinstance(reader, Response):
        return reader
    principal, context = reader
    view = await run_in_threadpool(
        student_page, engine, settings.reports_dir, course_id, period_id, user_id, date.today()
    )
    if view is None:  # the id is not echoed: it may be anyone's
        detail = f"No student with that id in course {course_id!r}" + (f", period {period_id!r}." if period_id else ".")
        return render("workspace_error.html", {**context, "title": "No such student", "detail": detail}, 404)
    await run_in_threadpool(
        record_access, engine, principal, STUDENT_PAGE, f"student-page:{view.course_id}|{view.period_id}", course_id
    )
    back = f"{context['course_url']}?{urlencode({'period_id': view.period_id})}"
    bands = legend(settings, view.reports[-1].record if view.reports else None)
    points = [Point(r.record.report_date, r.probability, r.band, r.record.week_of_term) for r in view.reports]
    page_context = {
        **context,
        "view": view,
        "back": back,
        "legend": bands,
        "chart": sparkline(points, bands.high, width=360, height=110, axes=True) if points else None,
        "grade": lambda value: grade(value, view.scale),
    }
    return render("student.html", page_context)
