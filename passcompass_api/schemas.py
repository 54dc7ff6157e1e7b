"""Request and response bodies of the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from passcompass_assets.core.actions import NOTE_MAX, ActionKind
from passcompass_assets.core.periods import Cadence


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


class PeriodIn(BaseModel):
    start_date: date
    end_date: date
    cadence_weeks: Cadence = 3

    @model_validator(mode="after")
    def ends_after_start(self) -> PeriodIn:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class PeriodOut(PeriodIn):
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

    course_id: str = Field(min_length=1, max_length=128)
    period_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=128)
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
