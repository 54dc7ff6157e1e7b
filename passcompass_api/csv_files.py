"""A CSV file sent in a multipart form (an upload, or rows to predict): its content types, reading it within the
size limit, and the refusals every route that takes one documents."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile

from passcompass_api.schemas import ErrorOut
from passcompass_assets.core.errors import Rejected

CSV_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "unreadable or malformed CSV"},
    413: {"model": ErrorOut, "description": "file too large"},
    415: {"model": ErrorOut, "description": "not a CSV"},
    422: {"model": ErrorOut, "description": "readable but invalid: see problems (row, column)"},
}
# Content types browsers and tools send for CSV files; anything else declared is refused.
CSV_CONTENT_TYPES = {
    "text/csv",
    "text/plain",
    "text/tab-separated-values",
    "application/csv",
    "application/vnd.ms-excel",
    "application/octet-stream",
    "",
}
CHUNK = 1024 * 1024


async def read_csv_file(file: UploadFile, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a larger file is refused without reading the rest."""
    declared = (file.content_type or "").split(";")[0].strip().lower()
    if declared not in CSV_CONTENT_TYPES:
        raise Rejected(415, "not_a_csv", f"content type {declared!r} is not a CSV; send text/csv")
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"the file is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
