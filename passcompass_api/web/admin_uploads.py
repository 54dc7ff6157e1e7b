"""The upload page (``/admin/uploads``): student data or final grades, previewed first, then stored.

1. ``POST /admin/uploads/preview`` (the file, multipart): what the upload would do, by the same core function as
   ``dry_run=true`` on the API (:func:`~passcompass_assets.core.ingest.preview.preview_upload`); nothing is stored.
   A file that passes is held encrypted (:mod:`~passcompass_assets.core.ingest.held`) and its one-time key goes
   into the page's commit form.
2. ``POST /admin/uploads/commit``: the held file, taken back (and deleted) with that key, received as the API
   receives it (:class:`~passcompass_assets.core.ingest.uploads.UploadPolicy`): nothing to choose again.

Below the forms, the latest uploads with their status and problems. For uploaders and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine
from starlette.datastructures import FormData, UploadFile

from passcompass_api.csv_files import read_csv_file
from passcompass_api.deps import EngineDep, LandingDep, SettingsDep
from passcompass_api.security import limiter_of
from passcompass_api.web.admin_common import Shown, context, field, form_for, page_for, problems_of
from passcompass_api.web.render import render
from passcompass_assets.core.access.roles import UPLOADER, Principal
from passcompass_assets.core.db.timestamps import utc
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.formats import DATE_FORMATS, formats
from passcompass_assets.core.ingest.held import HOLD_SECONDS, hold, purge_expired, take
from passcompass_assets.core.ingest.preview import Preview, preview_upload
from passcompass_assets.core.ingest.uploads import Upload, UploadPolicy, list_uploads
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH, UploadKind
from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.settings import Settings

router = APIRouter(include_in_schema=False)
UPLOADS = "/admin/uploads"
KINDS: dict[str, str] = {"students": "Student data", "final_grades": "Final grades"}
OPTIONS = ("kind", "course_id", "period_id", "decimal_separator", "date_format", "confirm_before_end")


@dataclass(frozen=True)
class Choices:
    """What the officer chose besides the file, as the form carries it (from the preview to the commit)."""

    kind: UploadKind
    course_id: str
    period_id: str
    decimal_separator: str
    date_format: str
    confirm_before_end: bool

    @classmethod
    def read(cls, values: dict[str, str]) -> Choices:
        kind: UploadKind = "final_grades" if values.get("kind") == "final_grades" else "students"
        return cls(
            kind,
            values.get("course_id", ""),
            values.get("period_id", ""),
            values.get("decimal_separator", ""),
            values.get("date_format", ""),
            values.get("confirm_before_end") == "yes",
        )

    def problems(self) -> list[Shown]:
        """What the form's own fields get wrong (the file's problems are the core's to find)."""
        return [
            Shown(what, f"The {what.lower()} is at most {MAX_ID_LENGTH} characters.")
            for what, value in (("Course id", self.course_id), ("Term", self.period_id))
            if len(value) > MAX_ID_LENGTH
        ]

    def options(self) -> dict[str, object]:
        """The upload's keyword arguments, as the API's upload routes pass them."""
        return {
            "kind": self.kind,
            "course_id": self.course_id or None,
            "period_id": self.period_id or None,
            "formats": formats(self.decimal_separator or None, self.date_format or None),
            "confirm_before_end": self.confirm_before_end,
        }


@dataclass(frozen=True)
class HistoryRow:
    upload: Upload
    kind: str
    status: str
    received: datetime | None  # in UTC


FIX_AND_PREVIEW = "Every problem of the file is listed here at once: fix them in the file, then preview it again."
STATUS_WORDS = {"received": "waiting to be processed", "processed": "processed", "failed": "failed"}


def _history(engine: Engine) -> list[HistoryRow]:
    return [
        HistoryRow(u, KINDS.get(u.kind, u.kind), STATUS_WORDS.get(u.status, u.status), utc(u.received_at))
        for u in list_uploads(engine)
    ]


async def _page(
    request: Request,
    principal: Principal,
    engine: Engine,
    settings: Settings,
    status: int = 200,
    choices: Choices | None = None,
    **extra: object,
) -> HTMLResponse:
    periods: list[Period] = await run_in_threadpool(list_periods, engine)
    today = date.today()
    page = context(request, principal, UPLOADS)
    page.update(
        {
            "kinds": KINDS,
            "periods": [(p.period_id, p.contains(today), p.end_date) for p in periods],
            "date_formats": DATE_FORMATS,
            "history": await run_in_threadpool(_history, engine),
            "choices": choices,
            "preview": None,
            "held": None,
            "stored": None,
            "detail": None,
            "hold_minutes": HOLD_SECONDS // 60,
            "default_period": settings.default_period_id,
            **extra,
        }
    )
    return render("admin_uploads.html", page, status)


async def _uploader_form(
    request: Request, settings: Settings, engine: Engine
) -> tuple[Principal, FormData, dict[str, str]] | Response:
    sent = await form_for(request, settings, engine, UPLOADER)
    if isinstance(sent, Response):
        return sent
    principal, form = sent
    return principal, form, {name: field(form, name) for name in OPTIONS + ("held_id", "key")}


def _too_many(request: Request, principal: Principal, settings: Settings) -> Shown | None:
    retry = limiter_of(request).hit("uploads", principal.id, settings.upload_rate_per_minute)
    if retry is None:
        return None
    return Shown(
        "", f"Too many uploads in a minute (at most {settings.upload_rate_per_minute}): try again in {retry} s."
    )


@router.get(UPLOADS, response_class=HTMLResponse, response_model=None)
async def uploads_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    principal = await page_for(request, settings, engine, UPLOADER)
    if isinstance(principal, Response):
        return principal
    await run_in_threadpool(purge_expired, settings.held_dir)  # a preview never committed is not kept past its time
    return await _page(request, principal, engine, settings)


@router.post(UPLOADS + "/preview", response_class=HTMLResponse, response_model=None)
async def uploads_preview(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """What the chosen file would do, stored nowhere; a file that passes is held for its commit."""
    sent = await _uploader_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    principal, form, values = sent
    choices = Choices.read(values)
    if (busy := _too_many(request, principal, settings)) is not None:
        return await _page(request, principal, engine, settings, 429, choices, problems=[busy])
    file = form.get("file")
    problems = choices.problems()
    if not isinstance(file, UploadFile) or not file.filename:
        problems.append(Shown("File", "Choose a CSV file to preview."))
    if problems or not isinstance(file, UploadFile):
        return await _page(request, principal, engine, settings, 422, choices, problems=problems)
    policy = UploadPolicy.from_settings(settings)
    try:
        content = await read_csv_file(file, settings.max_upload_bytes)
        options = choices.options()
        preview: Preview = await run_in_threadpool(
            lambda: preview_upload(engine, content, **options, **policy.options())  # type: ignore[arg-type]
        )
    except Rejected as refusal:
        detail, problems = problems_of(refusal, FIX_AND_PREVIEW)
        return await _page(request, principal, engine, settings, 422, choices, detail=detail, problems=problems)
    finally:
        await file.close()
    held = await run_in_threadpool(hold, settings.held_dir, content)
    return await _page(request, principal, engine, settings, 200, choices, preview=preview, held=held)


@router.post(UPLOADS + "/commit", response_class=HTMLResponse, response_model=None)
async def uploads_commit(request: Request, engine: EngineDep, settings: SettingsDep, landing: LandingDep) -> Response:
    """Store the previewed file (taken back from where it was held, and deleted there)."""
    sent = await _uploader_form(request, settings, engine)
    if isinstance(sent, Response):
        return sent
    principal, _, values = sent
    choices = Choices.read(values)
    if (busy := _too_many(request, principal, settings)) is not None:
        return await _page(request, principal, engine, settings, 429, choices, problems=[busy])
    if problems := choices.problems():
        return await _page(request, principal, engine, settings, 422, choices, problems=problems)
    content = await run_in_threadpool(take, settings.held_dir, values["held_id"], values["key"])
    if content is None:
        why = (
            f"The previewed file is no longer held (it is kept {HOLD_SECONDS // 60} minutes and stored once): "
            "choose it again and preview it."
        )
        return await _page(request, principal, engine, settings, 410, choices, problems=[Shown("File", why)])
    policy = UploadPolicy.from_settings(settings)
    try:
        options = choices.options()
        receipt: Upload = await run_in_threadpool(
            lambda: policy.receive(engine, landing, content, source="page", **options)
        )
    except Rejected as refusal:
        detail, problems = problems_of(refusal, FIX_AND_PREVIEW)
        return await _page(request, principal, engine, settings, 422, choices, detail=detail, problems=problems)
    return await _page(request, principal, engine, settings, 200, choices, stored=receipt)
