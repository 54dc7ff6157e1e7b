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


def _decode(content: bytes) -> tuple[str, list[str]]:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16"), ["decoded as UTF-16"]
        except UnicodeDecodeError as exc:
            raise UploadRejected(400, "unreadable_csv", f"invalid UTF-16 text: {exc.reason}") from exc
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
    delimiter = _sniff_delimiter(header_line)
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter))]
    if len(header) > MAX_COLUMNS:
        raise UploadRejected(
            422, "too_many_columns", f"the header has {len(header)} columns; at most {MAX_COLUMNS} are accepted"
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            header=0,
            names=[f"c{i}" for i in range(len(header))],
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
            on_bad_lines="error",
        )
    except pd.errors.ParserError as exc:
        message = str(exc).strip()
        row = _row_from_parser_error(message)
        detail = f"the CSV is malformed: {message}"
        raise UploadRejected(400, "malformed_csv", detail, [Problem(message, row)]) from None
    except (ValueError, csv.Error) as exc:
        raise UploadRejected(400, "malformed_csv", f"the CSV is malformed: {exc}") from None
    frame = frame.fillna("").apply(lambda col: col.str.strip())
    return RawTable(header=header, frame=frame, warnings=warnings)
