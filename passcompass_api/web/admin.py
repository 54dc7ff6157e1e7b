"""The administrator's setup pages: terms (``/admin/periods``), courses (``/admin/courses``) and access tokens
(``/admin/tokens``). Each is a page with forms that work without JavaScript; each change calls the same core
function as the API route that makes it (``PUT``/``DELETE /api/v1/periods``, ``PUT /api/v1/courses``,
``passcompass token``), and a refused change shows the page again with the problems in plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine

from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.web.admin_common import Shown, context, field, form_for, page_for, plain, problems_of
from passcompass_api.web.render import render
from passcompass_assets.core.access.roles import ADMIN, ALL_COURSES, COURSE_SCOPED, ROLES, Principal, Role
from passcompass_assets.core.access.tokens import (
    NewToken,
    TokenInfo,
    create_token,
    last_used,
    list_tokens,
    revoke_token,
)
from passcompass_assets.core.courses import MAX_GRADE, MAX_TITLE_LENGTH, Course, list_courses, set_course
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH, id_problem, text_problem
from passcompass_assets.core.periods import (
    CADENCES,
    Period,
    closest_periods,
    date_problem,
    delete_period,
    find_period,
    list_periods,
    period_data,
    term_problem,
    upsert_period,
)

router = APIRouter(include_in_schema=False)
PERIODS, COURSES, TOKENS = "/admin/periods", "/admin/courses", "/admin/tokens"
ROLE_WORDS = {
    "admin": "Administrator: everything, every course",
    "uploader": "Uploader: uploads student data and final grades",
    "instructor": "Instructor: reads and acts on the courses granted",
    "viewer": "Viewer: reads the reports of the courses granted",
}


async def _admin(request: Request, settings: SettingsDep, engine: Engine) -> Principal | Response:
    return await page_for(request, settings, engine, ADMIN)


async def _admin_form(request: Request, settings: SettingsDep, engine: Engine) -> tuple[Principal, dict] | Response:
    sent = await form_for(request, settings, engine, ADMIN)
    if isinstance(sent, Response):
        return sent
    principal, form = sent
    return principal, {name: field(form, name) for name in form}


def _id_problem(value: str, what: str) -> str | None:
    if not value:
        return f"{what} is required."
    if len(value) > MAX_ID_LENGTH:
        return f"{what} is at most {MAX_ID_LENGTH} characters."
    if problem := id_problem(value) or text_problem(value):
        return f"{what} {problem}."
    return None


# ---- Terms -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermRow:
    period: Period
    current: bool
    held: str  # what data the term holds, in words ("" when none: it can be deleted)


ONE_OF = re.compile(r"s\b")  # "courses" -> "course", "uploads not yet applied" -> "upload not yet applied"
HELD_WORDS = {
    "record_versions": "dated snapshots",
    "report_tasks": "reports asked for",
    "student_records": "student records",
}


def _held_words(found: dict[str, int]) -> str:
    """What a term holds, in words: "2 courses, 1 upload not yet applied"."""

    def words(table: str, count: int) -> str:
        said = HELD_WORDS.get(table, table.replace("_", " "))
        return f"{count} {ONE_OF.sub('', said, count=1) if count == 1 else said}"

    return ", ".join(words(table, count) for table, count in sorted(found.items()))


def _terms(engine: Engine) -> list[TermRow]:
    today = date.today()
    return [TermRow(p, p.contains(today), _held_words(period_data(engine, p.period_id))) for p in list_periods(engine)]


async def _periods_page(
    request: Request, principal: Principal, engine: Engine, status: int = 200, **extra: object
) -> HTMLResponse:
    page = context(request, principal, PERIODS)
    page.update({"terms": await run_in_threadpool(_terms, engine), "cadences": CADENCES, "draft": {}, **extra})
    return render("admin_periods.html", page, status)


@router.get(PERIODS, response_class=HTMLResponse, response_model=None)
async def periods_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    principal = await _admin(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    return await _periods_page(request, principal, engine)


def _read_date(text: str, what: str, problems: list[Shown]) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(Shown(what, f"The {what.lower()} is missing or not a date (YYYY-MM-DD)."))
        return None
    if problem := date_problem(day):
        problems.append(Shown(what, f"The {what.lower()} {problem}."))
        return None
    return day


def _term_from(values: dict[str, str]) -> tuple[Period | None, list[Shown]]:
    problems: list[Shown] = []
    period_id = values.get("period_id", "")
    if problem := _id_problem(period_id, "The term's name"):
        problems.append(Shown("Term", problem))
    start = _read_date(values.get("start_date", ""), "Start date", problems)
    end = _read_date(values.get("end_date", ""), "End date", problems)
    if start and end and (problem := term_problem(start, end)):
        problems.append(Shown("End date", plain(problem) + "."))
    cadence = values.get("cadence_weeks", "3")
    if cadence not in {str(c) for c in CADENCES}:
        problems.append(Shown("Reports every", "Reports come every 2, 3 or 4 weeks."))
    if problems or start is None or end is None:
        return None, problems
    return Period(period_id, start, end, int(cadence)), []  # type: ignore[arg-type]  # checked against CADENCES


@router.post(PERIODS, response_class=HTMLResponse, response_model=None)
async def periods_change(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """Declare or edit a term (``action=save``), or delete one that holds no data (``action=delete``)."""
    sent = await _admin_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    principal, values = sent
    period_id = values.get("period_id", "")
    if values.get("action") == "delete":
        try:
            await run_in_threadpool(delete_period, engine, period_id)
        except Rejected as refusal:
            if refusal.status == 409:
                found = await run_in_threadpool(period_data, engine, period_id)
                why = (
                    f"Term {period_id} holds data ({_held_words(found)}), so it cannot be deleted: reports, "
                    "evaluations and the model's training depend on it."
                )
                return await _periods_page(request, principal, engine, 409, problems=[Shown("Term", why)])
            return await _periods_page(
                request, principal, engine, 404, problems=[Shown("Term", "There is no such term.")]
            )
        return await _periods_page(request, principal, engine, notice=f"Term {period_id} deleted.")
    period, problems = _term_from(values)
    if period is None:
        return await _periods_page(request, principal, engine, 422, problems=problems, draft=values)
    existed = await run_in_threadpool(find_period, engine, period.period_id) is not None
    await run_in_threadpool(upsert_period, engine, period)
    verb = "saved" if existed else "declared: uploads may name it now"
    return await _periods_page(request, principal, engine, notice=f"Term {period.period_id} {verb}.")


# ---- Courses -----------------------------------------------------------------------------------------------------


async def _courses_page(
    request: Request, principal: Principal, engine: Engine, status: int = 200, **extra: object
) -> HTMLResponse:
    courses: list[Course] = await run_in_threadpool(list_courses, engine)
    page = context(request, principal, COURSES)
    page.update(
        {
            "unconfirmed": [c for c in courses if not c.confirmed],
            "confirmed": [c for c in courses if c.confirmed],
            "periods": [p.period_id for p in await run_in_threadpool(list_periods, engine)],
            "draft": {},
            "max_title": MAX_TITLE_LENGTH,
            **extra,
        }
    )
    return render("admin_courses.html", page, status)


@router.get(COURSES, response_class=HTMLResponse, response_model=None)
async def courses_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    principal = await _admin(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    return await _courses_page(request, principal, engine)


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _course_problems(engine: Engine, values: dict[str, str]) -> list[Shown]:
    problems: list[Shown] = []
    if problem := _id_problem(values.get("course_id", ""), "The course id"):
        problems.append(Shown("Course", problem))
    period_id = values.get("period_id", "")
    if problem := _id_problem(period_id, "The term"):
        problems.append(Shown("Term", problem))
    elif find_period(engine, period_id) is None:
        close = closest_periods(engine, period_id)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        problems.append(Shown("Term", f"Term {period_id} is not declared: declare it on the Terms page first.{hint}"))
    grade_max, pass_mark = _number(values.get("grade_max", "")), _number(values.get("pass_mark", ""))
    if grade_max is None or not 0 < grade_max <= MAX_GRADE:
        problems.append(
            Shown("Grade scale", f"The top of the grade scale must be a number above 0, at most {MAX_GRADE:g}.")
        )
    if pass_mark is None or pass_mark <= 0:
        problems.append(Shown("Pass mark", "The pass mark must be a number above 0."))
    elif grade_max is not None and pass_mark > grade_max:
        problems.append(Shown("Pass mark", "The pass mark must be at most the top of the grade scale."))
    title = values.get("title", "")
    if len(title) > MAX_TITLE_LENGTH:
        problems.append(Shown("Title", f"The title is at most {MAX_TITLE_LENGTH} characters."))
    elif title and (problem := text_problem(title)):
        problems.append(Shown("Title", f"The title {problem}."))
    return problems


@router.post(COURSES, response_class=HTMLResponse, response_model=None)
async def courses_change(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """Set a course's title, grade scale and pass mark (which confirms it); a new course id sets one up."""
    sent = await _admin_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    principal, values = sent
    problems = await run_in_threadpool(_course_problems, engine, values)
    if problems:
        return await _courses_page(request, principal, engine, 422, problems=problems, draft=values)
    course_id, period_id = values["course_id"], values["period_id"]
    try:
        course, created = await run_in_threadpool(
            set_course,
            engine,
            course_id,
            period_id,
            _number(values["grade_max"]) or 0.0,  # checked above
            _number(values["pass_mark"]) or 0.0,
            values.get("title") or None,
        )
    except Rejected as refusal:  # the term was deleted meanwhile
        detail, listed = problems_of(refusal)
        return await _courses_page(request, principal, engine, 422, problems=listed or [Shown("", detail)])
    what = "set up" if created else "saved and confirmed"
    scale = f"grades out of {course.grade_max:g}, pass at {course.pass_mark:g}"
    notice = f"Course {course.course_id} ({course.period_id}) {what}: {scale}."
    return await _courses_page(request, principal, engine, notice=notice)


# ---- Tokens ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    info: TokenInfo
    status: str
    last_used: datetime | None


def _token_rows(engine: Engine) -> list[TokenRow]:
    seen = last_used(engine)
    rows = [TokenRow(t, t.status(), seen.get(t.token_id)) for t in list_tokens(engine) if t.kind == "api"]
    return sorted(rows, key=lambda r: (r.status != "active", -r.info.created_at.timestamp()))


async def _tokens_page(
    request: Request, principal: Principal, engine: Engine, status: int = 200, **extra: object
) -> HTMLResponse:
    page = context(request, principal, TOKENS)
    page.update(
        {
            "tokens": await run_in_threadpool(_token_rows, engine),
            "mine": principal.id.removeprefix("token:"),
            "roles": [(role, ROLE_WORDS[role]) for role in ROLES],
            "scoped": sorted(COURSE_SCOPED),
            "new": None,
            "draft": {},
            **extra,
        }
    )
    return render("admin_tokens.html", page, status)


@router.get(TOKENS, response_class=HTMLResponse, response_model=None)
async def tokens_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    principal = await _admin(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    return await _tokens_page(request, principal, engine)


def _grant(values: dict[str, str]) -> tuple[Role | None, list[str], timedelta | None, list[Shown]]:
    problems: list[Shown] = []
    role = next((r for r in ROLES if r == values.get("role")), None)
    if role is None:
        problems.append(Shown("Role", "Choose a role."))
    every = values.get("all_courses") == "yes"
    courses = [c.strip() for c in values.get("courses", "").replace("\n", ",").split(",") if c.strip()]
    for course in courses:
        if problem := _id_problem(course, "A course id"):
            problems.append(Shown("Courses", problem))
            break
    if every:
        courses = [ALL_COURSES]
    if role in COURSE_SCOPED and not courses:
        problems.append(Shown("Courses", f"An {role} token needs the courses it may read, or “every course”."))
    if role is not None and role not in COURSE_SCOPED and courses:
        problems.append(Shown("Courses", f"An {role} token covers every course: leave the courses empty."))
    expires: timedelta | None = None
    if days := values.get("expires_days", ""):
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            problems.append(Shown("Expires after", "The number of days must be a whole number from 1 to 3650."))
        else:
            expires = timedelta(days=int(days))
    if len(label := values.get("label", "")) > 128:
        problems.append(Shown("Label", "The label is at most 128 characters."))
    elif label and (problem := text_problem(label)):
        problems.append(Shown("Label", f"The label {problem}."))
    return role, courses, expires, problems


@router.post(TOKENS, response_class=HTMLResponse, response_model=None)
async def tokens_change(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """Create a token (``action=create``; its secret shown once) or revoke one (``action=revoke``)."""
    sent = await _admin_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    principal, values = sent
    if values.get("action") == "revoke":
        token_id = values.get("token_id", "")
        revoked = await run_in_threadpool(revoke_token, engine, token_id)
        if not revoked:
            problem = Shown("Token", "There is no active token with that id (it may be revoked already).")
            return await _tokens_page(request, principal, engine, 404, problems=[problem])
        notice = f"Token {token_id} revoked: it no longer works, and every page session opened with it has ended."
        return await _tokens_page(request, principal, engine, notice=notice)
    role, courses, expires, problems = _grant(values)
    if problems or role is None:
        return await _tokens_page(request, principal, engine, 422, problems=problems, draft=values)
    new: NewToken = await run_in_threadpool(
        lambda: create_token(
            engine, role, courses, expires_in=expires, label=values.get("label") or None, created_by=principal.id
        )
    )
    return await _tokens_page(request, principal, engine, new=new)
