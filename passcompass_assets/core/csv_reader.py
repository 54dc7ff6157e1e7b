"""Read the bytes of an uploaded CSV into a frame of strings, coping with what real exports look like.

Copes with UTF-8 with or without BOM, UTF-16 with BOM, Latin-1, ``,`` ``;`` and tab delimiters, quoted values,
surrounding blanks and Windows line ends. Anything it cannot read is an :class:`UploadRejected` (400 or 415).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

import pandas as pd

from passcompass_assets.core.errors import Problem, UploadRejected

DELIMITERS = (",", ";", "\t")
MAX_COLUMNS = 1000


@dataclass
class RawTable:
    header: list[str]
    frame: pd.DataFrame  # all values as stripped strings, "" where empty
    warnings: list[str] = field(default_factory=list)


# Files people send instead of a CSV, recognised by their first bytes.
NOT_CSV_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or Excel workbook (.xlsx): export the sheet as CSV",
    b"\xd0\xcf\x11\xe0": "a legacy Office document (.xls): export the sheet as CSV",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}


def _decode(content: bytes) -> tuple[str, list[str]]:
    for signature, what in NOT_CSV_SIGNATURES.items():
        if content.startswith(signature):
            raise UploadRejected(415, "not_a_csv", f"the file is {what}, not a CSV")
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = content.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UploadRejected(400, "unreadable_csv", f"invalid UTF-16 text: {exc.reason}") from exc
        if "\x00" in text:  # the parser would silently cut the value at it (and PostgreSQL cannot store it)
            raise UploadRejected(415, "not_a_csv", "the file contains NUL characters; expected a text CSV")
        return text, ["decoded as UTF-16"]
    if b"\x00" in content:
        raise UploadRejected(415, "not_a_csv", "the file contains binary data (NUL bytes); expected a text CSV")
    try:
        return content.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        # Spreadsheet exports on Windows are often Latin-1 / cp1252; every byte decodes, so control bytes
        # (a binary file) are caught below.
        text = content.decode("cp1252", errors="replace")
        if re.search(r"[\x00-\x08\x0e-\x1f]", text):
            raise UploadRejected(415, "not_a_csv", "the file is not text; expected a CSV") from None
        return text, ["not valid UTF-8: decoded as Windows-1252 (Latin-1)"]


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most fields (quotes respected)."""
    fields = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: fields[d])


def _unquote(value: str) -> str:
    value = value.strip()
    return value[1:-1].strip() if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _clean_column(column: pd.Series) -> pd.Series:
    """Strip blanks; a quoted value followed by blanks (``"11" ;``) reaches here still quoted."""
    column = column.str.strip()
    if column.str.startswith('"').any():
        column = column.str.replace(r'^"(.*)"$', r"\1", regex=True).str.strip()
    return column


def _row_from_parser_error(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def read_csv_bytes(content: bytes) -> RawTable:
    """Decode and parse; every value comes back as a stripped string."""
    if not content.strip():
        raise UploadRejected(400, "empty_file", "the file is empty")
    text, warnings = _decode(content)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    header_line = text.split("\n", 1)[0]
    if not header_line.strip():
        raise UploadRejected(400, "malformed_csv", "the first line (the header) is empty", [Problem("empty header", 1)])
    try:
        delimiter = _sniff_delimiter(header_line)
        header = [_unquote(h) for h in next(csv.reader([header_line], delimiter=delimiter, skipinitialspace=True))]
    except csv.Error as exc:  # e.g. a header cell past the csv module's field limit (128 KB)
        raise UploadRejected(400, "malformed_csv", f"the header is malformed: {exc}", [Problem(str(exc), 1)]) from None
    if len(header) > MAX_COLUMNS:
        raise UploadRejected(
            422, "too_many_columns", f"the header has {len(header)} columns; at most {MAX_COLUMNS} are accepted"
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            header=None,  # the header was read above; a row with more fields than it is an error
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
            skipinitialspace=True,
            on_bad_lines="error",
        )
    except pd.errors.ParserError as exc:
        message = str(exc).strip()
        row = _row_from_parser_error(message)
        detail = f"the CSV is malformed: {message}"
        raise UploadRejected(400, "malformed_csv", detail, [Problem(message, row)]) from None
    except (ValueError, csv.Error) as exc:
        raise UploadRejected(400, "malformed_csv", f"the CSV is malformed: {exc}") from None
    frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns = [f"c{i}" for i in range(frame.shape[1])]
    frame = frame.fillna("").apply(_clean_column)
    return RawTable(header=header, frame=frame, warnings=warnings)
