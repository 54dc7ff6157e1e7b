"""The instructors' web pages: courses of the current period with their latest report and a CSV upload form (``/``);
a course's students (``/courses/{course_id}``) and one student's term (``/courses/{course_id}/students/{user_id}``),
where instructors record what they did.

The view is built here, server-side, from the Dagster-free core (periods, courses, reports); the page itself is one
template with inline CSS and JS, so it needs nothing from outside the API (no CDN, no web fonts).

It needs a signed-in principal (the session cookie, or a bearer token): without one it sends the browser to
``/signin``; ``/?token=...`` (the link ``passcompass run`` prints) signs in and comes back without the token. An
instructor or viewer sees the courses granted to them; download links show for the roles that may download,
the upload form for those that may upload.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine

from passcompass_api.deps import get_db, get_settings
from passcompass_api.routers.auth import signed_in_redirect, signin_page, spend_link_token, token_session
from passcompass_api.security import optional_principal
from passcompass_assets.core.access.audit import record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, UPLOADER, VIEWER, Principal
from passcompass_assets.core.actions import KINDS, LABELS
from passcompass_assets.core.cadence import next_report_date
from passcompass_assets.core.courses import course_ids, periods_with_courses
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.reports.build import BANDS
from passcompass_assets.core.reports.render import FORMATS
from passcompass_assets.core.reports.store import ReportRecord, list_reports
from passcompass_assets.core.settings import Settings
from passcompass_assets.core.workspace import Band, Point, Scale, Show, course_page, student_page

router = APIRouter(include_in_schema=False)

_templates = Environment(
    loader=PackageLoader("passcompass_api", "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
)


def _day(d: date | None) -> str:
    """A date as instructors read it: "Mon 28 Sep 2026"."""
    return f"{d:%a} {d.day} {d:%b %Y}" if d else ""


_templates.filters["day"] = _day


@dataclass(frozen=True)
class ReportView:
    report_id: str
    report_date: date
    report_number: int
    week_of_term: int
    students: int
    counts: dict[str, int]
    low_confidence: bool
    warning: str | None
    drift: str | None
    links: dict[str, str]


@dataclass(frozen=True)
class CourseView:
    course_id: str
    report: ReportView | None
    next_due: date | None


@dataclass(frozen=True)
class PeriodView:
    period_id: str
    period: Period | None  # None: a period known only from uploads, without dates
    current: bool
    next_due: date | None
    courses: list[CourseView]


@dataclass(frozen=True)
class PageView:
    today: date
    sections: list[PeriodView]
    notice: str | None = None  # why the page shows something other than the current period
    other_periods: list[str] = field(default_factory=list)


def _choose(periods: list[Period], undated: list[str], today: date, requested: str | None) -> tuple[list[str], str]:
    """Which periods to show, and a notice when it is not simply "the current one"."""
    known = [p.period_id for p in periods] + undated
    if requested in known:
        return [requested], ""
    missing = f"There is no period named {requested!r}. " if requested else ""
    if current := [p.period_id for p in periods if p.contains(today)]:
        return current, missing
    started = [p for p in periods if p.start_date <= today]
    if started:
        recent = max(started, key=lambda p: (p.end_date, p.start_date))
        return [recent.period_id], (
            f"{missing}No period is current today; showing the most recent one, {recent.period_id}, "
            f"which ended on {_day(recent.end_date)}."
        )
    if periods:
        upcoming = min(periods, key=lambda p: p.start_date)
        return [upcoming.period_id], (
            f"{missing}No period is current today; showing the next one, {upcoming.period_id}, "
            f"which starts on {_day(upcoming.start_date)}."
        )
    if undated:
        return [undated[-1]], f"{missing}No period has dates yet; showing {undated[-1]}, the latest one uploads named."
    return [], missing


def _report_view(row: ReportRecord, link: str) -> ReportView:
    # The badge already says "Low confidence"; the note under it gives the reason.
    reason = (row.warning or "").removeprefix("Low confidence: ")
    return ReportView(
        report_id=row.report_id,
        report_date=row.report_date,
        report_number=row.report_number,
        week_of_term=row.week_of_term,
        students=row.students,
        counts={band: int(row.band_counts.get(band, 0)) for band in BANDS},
        low_confidence=row.confidence == "low",
        warning=reason[:1].upper() + reason[1:] or None,
        drift=row.drift_flagged,
        links={fmt: f"{link}/{row.report_id}?format={fmt}" for fmt in FORMATS},
    )


def _section(
    engine: Engine, period_id: str, period: Period | None, today: date, link: str, principal: Principal | None
) -> PeriodView:
    def shown(course_id: str) -> bool:
        return principal is None or principal.may_see(course_id)

    latest: dict[str, ReportRecord] = {}
    for row in list_reports(engine, period_id=period_id):  # newest first: the first row per course wins
        if shown(row.course_id):
            latest.setdefault(row.course_id, row)
    names = {name for name in course_ids(engine, period_id) if shown(name)}
    next_due = next_report_date(period, today) if period else None
    views = [
        CourseView(name, _report_view(latest[name], link) if name in latest else None, next_due)
        for name in sorted(names | set(latest))
    ]
    return PeriodView(period_id, period, bool(period and period.contains(today)), next_due, views)


def build_page(
    engine: Engine,
    today: date,
    requested: str | None = None,
    link: str = "/api/v1/reports",
    principal: Principal | None = None,
) -> PageView:
    """The page's data for ``today``; ``link`` is the path of the report download endpoint; the courses are
    those ``principal`` may see (None: every course)."""
    periods = list_periods(engine)
    dated = {p.period_id: p for p in periods}
    undated = [p for p in periods_with_courses(engine) if p not in dated]
    shown, notice = _choose(periods, undated, today, requested)
    sections = [_section(engine, pid, dated.get(pid), today, link, principal) for pid in shown]
    others = [pid for pid in [*reversed([p.period_id for p in periods]), *undated] if pid not in shown]
    return PageView(today, sections, notice or None, others)


@router.get("/", response_class=HTMLResponse, response_model=None)
async def index(
    request: Request,
    engine: Annotated[Engine, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    period_id: Annotated[str | None, Query(max_length=128)] = None,
    token: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    root = request.scope.get("root_path", "")
    if token is not None:
        # A sign-in link: spend its token, then the same page without it (it must not stay in the address bar).
        info = await run_in_threadpool(spend_link_token, engine, token)
        if info is None:
            error = "That sign-in link is not valid any more (each works once): sign in with a token instead."
            return signin_page(request, settings, error=error, status=401)
        target = "/" + (f"?{urlencode({'period_id': period_id})}" if period_id else "")
        return signed_in_redirect(request, settings, token_session(settings, info), target)
    principal = await run_in_threadpool(optional_principal, request, settings, engine)
    if principal is None:
        next_path = "/" + (f"?{urlencode({'period_id': period_id})}" if period_id else "")
        return RedirectResponse(f"{root}/signin?{urlencode({'next': next_path})}", status_code=303)
    if not principal.roles:
        message = "Your account has no PassCompass role; ask an administrator for one."
        return signin_page(request, settings, error=message, status=403)
    view = await run_in_threadpool(build_page, engine, date.today(), period_id, root + "/api/v1/reports", principal)
    # A fresh nonce lets the page's own inline style and script run while the policy blocks any other script.
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template("index.html").render(
        view=view,
        nonce=nonce,
        upload_url=root + "/api/v1/uploads",
        courses_url=root + "/courses/",
        signout_url=root + "/signout",
        who=principal.label,
        csrf=principal.csrf or "",
        may_upload=principal.has(UPLOADER),
        may_download=principal.has(INSTRUCTOR, VIEWER),
    )
    policy = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})


# --- the instructor's workspace: a course's students, one student's term ---------------------------------------

COURSE_PAGE = "page.course"
STUDENT_PAGE = "page.student"
PageCourse = Annotated[str, PathParam(min_length=1, max_length=128)]
PageUser = Annotated[str, PathParam(min_length=1, max_length=128)]
PagePeriod = Annotated[str | None, Query(min_length=1, max_length=128)]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def _grade(value: float | None, scale: Scale) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} / {scale.grade_max:g}" if scale.grade_max else f"{value:.1f}"


def _change(value: float | None) -> str:
    if value is None:
        return "new"
    points = round(value * 100)
    return f"+{points}" if points > 0 else "±0" if points == 0 else f"−{-points}"


def _sparkline(points: list[Point], high: float, width: int = 132, height: int = 30) -> Markup:
    """The student's probability in each report of the term, as a small inline chart (gaps where absent)."""
    known = [(i, p) for i, p in enumerate(points) if p.probability is not None]
    step = (width - 8) / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(4 + i * step, 1)

    def y(value: float) -> float:
        return round(height - 3 - value * (height - 6), 1)

    said = "; ".join(f"{_day(p.report_date)}: {_percent(p.probability)}" for p in points)
    line = " ".join(f"{x(i)},{y(p.probability or 0)}" for i, p in known)
    dots = "".join(
        f'<circle cx="{x(i)}" cy="{y(p.probability or 0)}" r="2.4" class="dot {escape(p.band or "")}"></circle>'
        for i, p in known
    )
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape("fail probability over the term: " + said)}">'
        f'<line x1="0" x2="{width}" y1="{y(high)}" y2="{y(high)}" class="threshold"></line>'
        f'<polyline points="{line}" class="trend"></polyline>{dots}</svg>'
    )


_templates.filters["percent"] = _percent
_templates.filters["change"] = _change


def _signed_in(request: Request, settings: Settings, engine: Engine) -> Principal | Response:
    """The page's principal, or the response instead of the page: to the sign-in, or 403 without a role."""
    principal = optional_principal(request, settings, engine)
    if principal is None:
        root = request.scope.get("root_path", "")
        target = request.url.path.removeprefix(root) + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{root}/signin?{urlencode({'next': target})}", status_code=303)
    if not principal.roles:
        message = "Your account has no PassCompass role; ask an administrator for one."
        return signin_page(request, settings, error=message, status=403)
    return principal


def _high(record: ReportRecord | None, default: float) -> float:
    """The high-risk threshold the report used (drawn on the trajectories)."""
    thresholds = record.header.get("risk_thresholds") if record else None
    return float(thresholds.get("high", default)) if isinstance(thresholds, dict) else default


def _render(template: str, context: dict[str, object], status: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template(template).render(nonce=nonce, **context)
    policy = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(
        html, status_code=status, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    )


def _refusal(principal: Principal, course_id: str, root: str) -> HTMLResponse | None:
    """The page instead of a course's workspace when the principal may not read it."""
    if not principal.has(INSTRUCTOR, VIEWER):
        detail = "This page lists students: it is for the instructors and viewers of the course."
    elif not principal.may_see(course_id):
        detail = "This course is not granted to you."
    else:
        return None
    context: dict[str, object] = {"title": "Not allowed", "detail": detail, "root": root, "who": principal.label}
    return _render("workspace_error.html", context, 403)


async def _course_reader(
    request: Request, settings: Settings, engine: Engine, course_id: str
) -> tuple[Principal, dict[str, object]] | Response:
    """The signed-in reader of the course and the pages' context, or the response instead of the page."""
    principal = await run_in_threadpool(_signed_in, request, settings, engine)
    if not isinstance(principal, Principal):
        return principal
    context = _context(request, principal, course_id)
    refused = _refusal(principal, course_id, str(context["root"]))
    return refused if refused is not None else (principal, context)


def _context(request: Request, principal: Principal, course_id: str) -> dict[str, object]:
    root = request.scope.get("root_path", "")
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
    course_id: PageCourse,
    engine: Annotated[Engine, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    period_id: PagePeriod = None,
    band: Band = "all",
    show: Show = "all",
    q: Annotated[str, Query(max_length=128)] = "",
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
        return _render("workspace_error.html", {**context, "title": "No such course", "detail": detail}, 404)
    await run_in_threadpool(
        record_access, engine, principal, COURSE_PAGE, f"course-page:{view.course_id}|{view.period_id}", course_id
    )
    high = _high(view.report, settings.risk_high)

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
        "spark": lambda points: _sparkline(points, high),
        "grade": lambda value: _grade(value, view.scale),
        "downloads": {fmt: f"{context['root']}/api/v1/reports/{report_id}?format={fmt}" for fmt in FORMATS},
    }
    return _render("course.html", page_context)


@router.get("/courses/{course_id}/students/{user_id}", response_class=HTMLResponse, response_model=None)
async def student_workspace(
    request: Request,
    course_id: PageCourse,
    user_id: PageUser,
    engine: Annotated[Engine, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    period_id: PagePeriod = None,
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
        return _render("workspace_error.html", {**context, "title": "No such student", "detail": detail}, 404)
    await run_in_threadpool(
        record_access, engine, principal, STUDENT_PAGE, f"student-page:{view.course_id}|{view.period_id}", course_id
    )
    back = f"{context['course_url']}?{urlencode({'period_id': view.period_id})}"
    high = _high(view.reports[-1].record if view.reports else None, settings.risk_high)
    points = [Point(r.record.report_date, r.probability, r.band) for r in view.reports]
    page_context = {
        **context,
        "view": view,
        "back": back,
        "chart": _sparkline(points, high, width=360, height=90) if points else None,
        "grade": lambda value: _grade(value, view.scale),
    }
    return _render("student.html", page_context)
