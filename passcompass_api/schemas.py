"""Request and response bodies of the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from passcompass_assets.core.actions import NOTE_MAX, ActionKind
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH
from passcompass_assets.core.periods import Cadence, date_problem, term_problem

# An id in a request body: bounded as an upload's ids are.
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class ProblemOut(BaseModel):
    row: int | None = Field(None, description="spreadsheet row (the header is row 1); a group's first row")
    column: str | None = None
    message: str
    rows: str | None = Field(None, description="a group's rows as ranges, e.g. 2-46, 50")
    count: int | None = Field(None, description="how many values a group holds")


class ErrorOut(BaseModel):
    error: str = Field(description="a short machine-readable code, e.g. invalid_values")
    detail: str = Field(description="what is wrong, in plain words")
    problems: list[ProblemOut] = []


class UploadAccepted(BaseModel):
    upload_id: str
    status: Literal["received", "processed", "failed"]
    rows: int
    course_ids: list[str]
    period_ids: list[str]
    columns: list[str] = Field(default_factory=list, description="every column it kept, by canonical name")
    dropped_columns: list[str] = Field(description="every column it dropped (not in the catalog, or ignored)")
    warnings: list[str]
    duplicate_of: str | None = None


class ActivityAccepted(BaseModel):
    """What an activity file did. Events are counted when the request returns."""

    format: str
    rows: int = Field(description="rows (or statements) read")
    events_counted: int = Field(description="events counted for the first time")
    already_counted: int = Field(description="events counted before (a file sent again, overlapping increments)")
    skipped: dict[str, int] = Field(
        description="rows that are not a student's own event in a declared course, by reason: not_participating, "
        "site_or_guest (Moodle), masquerading, not_logged_in, not_in_a_course (Canvas), voiding_statement (xAPI), "
        "outside_declared_courses (no declared term of the course holds the day: set it up, then send again)"
    )
    students: int
    courses: int
    first_day: date | None
    last_day: date | None


class ClassChangeOut(BaseModel):
    course_id: str
    period_id: str
    new: int = Field(description="students new to the course")
    withdrawn: int = Field(description="students this roster withdraws")
    unchanged: int


class RosterOut(BaseModel):
    """What a roster did (or, with ``dry_run=true``, would do: ``stored`` false)."""

    version: str = Field(description="the export's OneRoster version")
    stored: bool
    new_periods: list[str]
    changed_periods: list[str] = Field(description="declared periods whose dates the roster changes")
    new_courses: list[str] = Field(description="course|period; created on the default scale, for you to confirm")
    renamed_courses: list[str]
    classes: list[ClassChangeOut]
    upload_id: str | None = Field(description="the students' upload (GET /api/v1/uploads/{id}), applied shortly")
    warnings: list[str]


class CourseChangeOut(BaseModel):
    course_id: str
    period_id: str
    new: int = Field(description="students the upload would add")
    changed: int = Field(description="students with a value the upload would change")
    unchanged: int = Field(description="students the upload would leave as they are")


class UploadPreview(BaseModel):
    """The answer of ``dry_run=true``: what the upload would do. Nothing was stored."""

    kind: Literal["students", "final_grades"]
    rows: int
    courses: list[CourseChangeOut]
    columns: list[str] = Field(description="the columns it would keep, by canonical name")
    dropped_columns: list[str]
    suggested_columns: dict[str, list[str]] = Field(description="dropped header -> catalog columns it may mean")
    warnings: list[str]
    duplicate_of: str | None = Field(None, description="the same file was received before as this upload")
    stored: Literal[False] = False


class UploadStatus(UploadAccepted):
    kind: Literal["students", "final_grades"]
    error: str | None = None
    received_at: datetime
    processed_at: datetime | None = None


class Health(BaseModel):
    status: Literal["ok"]
    database: str


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def _written_as(pattern: re.Pattern[str], what: str) -> Callable[[object], object]:
    """Only a date as written (ISO 8601): pydantic would also take a number as seconds since 1970 (``0``,
    ``0.5``), which no one sending a date means."""

    def check(value: object) -> object:
        if isinstance(value, date):  # already a date (Python callers)
            return value
        if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
            raise ValueError(f"must be {what}")
        return value

    return check


IsoDate = Annotated[date, BeforeValidator(_written_as(ISO_DAY, "a date written YYYY-MM-DD"))]
IsoDateTime = Annotated[
    datetime, BeforeValidator(_written_as(ISO_MOMENT, "a date or time written YYYY-MM-DD[THH:MM[:SS][+HH:MM]]"))
]


class PeriodFields(BaseModel):
    start_date: date
    end_date: date
    cadence_weeks: Cadence = 3


class PeriodIn(PeriodFields):
    """A term to declare: dates within the calendar the platform plans for, at most two years apart."""

    start_date: IsoDate
    end_date: IsoDate

    @field_validator("start_date", "end_date")
    @classmethod
    def plausible_date(cls, day: date) -> date:
        if problem := date_problem(day):
            raise ValueError(problem)
        return day

    @model_validator(mode="after")
    def ends_after_start(self) -> PeriodIn:
        if problem := term_problem(self.start_date, self.end_date):
            raise ValueError(problem)
        return self


class PeriodOut(PeriodFields):  # as stored: a period an earlier version accepted is still listed
    period_id: str
    current: bool
    report_dates: list[date]


class ReportSummary(BaseModel):
    report_id: str
    course_id: str
    period_id: str
    report_date: date
    report_number: int
    week_of_term: int
    generated_at: datetime
    students: int
    band_counts: dict[str, int]
    model_version: str | None
    confidence: str
    links: dict[str, str]


class ReportRequested(BaseModel):
    request_id: str
    course_id: str
    period_id: str
    status: Literal["requested"]


class ReportWorkOut(BaseModel):
    """A course report to make or made: scheduled on the cadence, requested, or asked for by an operator."""

    work: str = Field(description='"report:<course|period|date>", "report-request:<id>" or "manual:<id>"')
    course_id: str
    period_id: str
    report_date: date
    request_id: str | None
    status: Literal["pending", "done", "failed"]
    attempts_failed: int
    will_retry: bool = Field(description="a failed report is tried again, alone, after a back-off")
    error: str | None
    report_id: str | None
    queued_at: datetime | None
    finished_at: datetime | None


class MeOut(BaseModel):
    principal: str = Field(description='"token:<id>" or "oidc:<subject>", as the access log names it')
    roles: list[str]
    courses: list[str] = Field(description='courses granted (instructor, viewer); "*": every course')
    all_courses: bool
    via: Literal["token", "oidc", "session"]


class AccessEntryOut(BaseModel):
    seq: int
    at: datetime
    principal: str
    action: str = Field(description="report.download, evaluation.download or prediction")
    target: str
    course_id: str | None


class SessionsEndedOut(BaseModel):
    principal: str
    ended: int = Field(description="how many of its page sessions were open and are now ended")


class ErasureOut(BaseModel):
    erasure_id: str
    course_id: str | None
    removed: dict[str, int] = Field(description="what was removed where: rows per table, files, reports, log lines")


class ErasureRecordOut(BaseModel):
    erasure_id: str
    at: datetime
    actor: str
    scope: Literal["student", "retention"]
    subject_hash: str | None = Field(description="keyed hash of the erased user id (never the id)")
    course_id: str | None
    period_id: str | None
    counts: dict[str, int]


class ActionIn(BaseModel):
    """An action taken on a student's flag; who and when come from the credential."""

    model_config = ConfigDict(extra="forbid")

    course_id: Id
    period_id: Id
    user_id: Id
    kind: ActionKind
    note: str | None = Field(
        None, max_length=NOTE_MAX, description="free text for staff: never copied into reports, logs or the model"
    )

    @model_validator(mode="after")
    def storable_text(self) -> ActionIn:
        # NUL and lone surrogates cannot be stored (PostgreSQL refuses them): a 422, never a 500.
        for name in ("course_id", "period_id", "user_id", "note"):
            value = getattr(self, name)
            if value is None:
                continue
            if "\x00" in value:
                raise ValueError(f"{name} must not contain NUL characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{name} is not valid Unicode text") from None
        return self


class ActionOut(BaseModel):
    action_id: str
    course_id: str
    period_id: str
    user_id: str
    kind: ActionKind
    note: str | None
    recorded_by: str = Field(description='who recorded it: "token:<id>" or "oidc:<subject>", never a name')
    recorded_at: datetime
    report_id: str | None = Field(description="the course's latest report when it was recorded")
