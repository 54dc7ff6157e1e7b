"""Request and response bodies of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    row: int | None = Field(None, description="spreadsheet row (the header is row 1)")
    column: str | None = None
    message: str


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
    dropped_columns: list[str]
    warnings: list[str]
    duplicate_of: str | None = None


class UploadStatus(UploadAccepted):
    kind: Literal["students", "final_grades"]
    error: str | None = None
    received_at: datetime
    processed_at: datetime | None = None


class Health(BaseModel):
    status: Literal["ok"]
    database: str
