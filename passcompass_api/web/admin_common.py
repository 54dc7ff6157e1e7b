"""What the setup pages share: who may open which, their links (also on the home page), the refusal page, reading
a form's fields, and the core's messages in a data officer's words.

Admins set up terms, courses and tokens; uploaders (and admins) upload. Every other role gets a plain 403 page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine
from starlette.datastructures import FormData

from passcompass_api.web.filters import plain
from passcompass_api.web.gate import signed_in, signed_in_form
from passcompass_api.web.render import render
from passcompass_api.web.session import root_of
from passcompass_assets.core.access.roles import ADMIN, UPLOADER, Principal, Role
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.settings import Settings


@dataclass(frozen=True)
class AdminPage:
    path: str
    title: str
    role: Role
    summary: str


PAGES = (
    AdminPage("/admin/periods", "Terms", ADMIN, "declare a term's dates and how often reports come"),
    AdminPage("/admin/courses", "Courses", ADMIN, "titles, grade scales and pass marks"),
    AdminPage("/admin/tokens", "Access tokens", ADMIN, "who may upload, read or administer"),
    AdminPage("/admin/uploads", "Uploads", UPLOADER, "student data and final grades, previewed first"),
)
ROLE_NEEDED = {
    ADMIN: "This page is for PassCompass administrators.",
    UPLOADER: "This page is for the people who upload data (uploaders and administrators).",
}


@dataclass(frozen=True)
class Link:
    url: str
    title: str
    summary: str
    current: bool = False


def admin_links(principal: Principal, root: str, current: str = "") -> list[Link]:
    """The setup pages ``principal`` may open: all four for admins, the upload page for uploaders, none else."""
    return [Link(root + p.path, p.title, p.summary, p.path == current) for p in PAGES if principal.has(p.role)]


def refused(request: Request, principal: Principal, role: Role) -> HTMLResponse:
    context = {"root": root_of(request), "who": principal.label, "detail": ROLE_NEEDED[role], "links": []}
    return render("admin_refused.html", context, 403)


def allowed(request: Request, principal: Principal, role: Role) -> Response | None:
    """None when ``principal`` may use a page for ``role``; else the 403 page."""
    return None if principal.has(role) else refused(request, principal, role)


async def page_for(request: Request, settings: Settings, engine: Engine, role: Role) -> Principal | Response:
    """The principal opening a page for ``role``; else the sign-in or 403 page to answer instead."""
    principal = await signed_in(request, settings, engine)
    if isinstance(principal, Response):
        return principal
    return allowed(request, principal, role) or principal


async def form_for(
    request: Request, settings: Settings, engine: Engine, role: Role
) -> tuple[Principal, FormData] | Response:
    """The principal and fields of a form sent to a page for ``role``; else the page to answer instead."""
    sent = await signed_in_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    return allowed(request, sent[0], role) or sent


def context(request: Request, principal: Principal, path: str) -> dict[str, object]:
    root = root_of(request)
    return {
        "root": root,
        "who": principal.label,
        "csrf": principal.csrf or "",
        "links": admin_links(principal, root, path),
        "action": root + path,
        "problems": [],
        "notice": None,
    }


def field(form: FormData, name: str, limit: int = 10_000) -> str:
    """A text field of the form, stripped ("" when absent or a file); past ``limit`` characters it is cut there,
    which is still far too long for every field (each page refuses what is too long rather than cut it)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


FIELD_NAMES = {
    "period_id": "Term",
    "course_id": "Course",
    "confirm_before_end": "Before the term's end",
    "decimal_separator": "Decimal separator",
    "date_format": "Date format",
    "file": "File",
}


@dataclass(frozen=True)
class Shown:
    """A problem as the page lists it: where (rows and column, as the file spells it) and what."""

    where: str
    message: str


def shown(problem: Problem) -> Shown:
    column = FIELD_NAMES.get(problem.column or "", problem.column)
    if problem.rows and problem.count and problem.count > 1:
        where = f"Rows {problem.rows} ({problem.count} values)"
    elif problem.row is not None:
        where = f"Row {problem.row}"
    else:
        where = ""
    named = bool(problem.column) and problem.message.startswith(problem.column or "")
    if column and not named:
        where = f"{where}, column {column}" if where else str(column)
    return Shown(where, plain(problem.message, capital=not named))


def problems_of(refusal: Rejected, lead: str = "") -> tuple[str, list[Shown]]:
    """A refusal's summary and its problems, in the page's words: with a list of problems, ``lead`` (what to do)
    stands for the summary, which repeats them in an API client's words."""
    listed = [shown(p) for p in refusal.problems]
    return (lead if listed and lead else plain(refusal.detail)), listed
