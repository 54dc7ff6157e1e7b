"""The instructors' web page: courses of the current period with their latest report, and a CSV upload form.

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
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine

from passcompass_api.dependencies import get_db, get_settings
from passcompass_api.routers.auth import signed_in_redirect, signin_page, spend_link_token, token_session
from passcompass_api.security import optional_principal
from passcompass_assets.core.access.roles import INSTRUCTOR, UPLOADER, VIEWER, Principal
from passcompass_assets.core.cadence import next_report_date
from passcompass_assets.core.courses import course_ids, periods_with_courses
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.reports.build import BANDS
from passcompass_assets.core.reports.render import FORMATS
from passcompass_assets.core.reports.store import ReportRecord, list_reports
from passcompass_assets.core.settings import Settings

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
