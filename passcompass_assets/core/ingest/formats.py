"""How a file writes its numbers and dates: decimal commas and day-first or month-first dates, as European and
American spreadsheet exports do.

A ``;``-separated export (what a spreadsheet in a decimal-comma locale writes) whose numbers use no decimal point
is read with decimal commas; ``decimal_separator=,`` says so for any file. Dates are ISO (``YYYY-MM-DD``) unless the
upload declares ``date_format``: ``04/12/2026`` is the 4th of December in one country and April 12th in another,
so a date written with ``/`` or ``.`` and no declaration is refused with a hint, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from passcompass_assets.core.errors import Problem, Rejected

Values: TypeAlias = pa.Array | pa.ChunkedArray
DecimalSeparator = Literal[".", ","]
DateFormat = Literal["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY"]
DATE_FORMATS: dict[str, str] = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
}
# The calendar date as written; a time and offset after it are ignored.
ISO_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
# A day and month in either order, then the year; a time after it is ignored.
LOCAL_DATE = r"^(?P<day>\d{1,2}[/.]\d{1,2}[/.]\d{4})(?:[T ]\d{2}:\d{2}(?::\d{2})?)?$"
DECIMAL_POINT = r"^[+-]?\d*\.\d+$"
DECIMAL_COMMA = r"^[+-]?\d*,\d+$"


@dataclass(frozen=True)
class Formats:
    """What the upload declared; None: the default (decimal point unless detected, ISO dates)."""

    decimal_separator: DecimalSeparator | None = None
    date_format: DateFormat | None = None


def formats(decimal_separator: str | None = None, date_format: str | None = None) -> Formats:
    """The declared formats, from form fields; an unknown one is refused naming the field and what it may be."""
    problems = []
    separator = (decimal_separator or "").strip() or None
    if separator not in (None, ".", ","):
        problems.append(Problem("decimal_separator must be . or ,", None, "decimal_separator"))
    written = (date_format or "").strip().upper() or None
    if written is not None and written not in DATE_FORMATS:
        problems.append(Problem(f"date_format must be one of: {', '.join(DATE_FORMATS)}", None, "date_format"))
    if problems:
        raise Rejected(422, "invalid_request", "; ".join(p.message for p in problems), problems)
    return Formats(separator, written)  # type: ignore[arg-type]


def _matches(values: Values, pattern: str) -> bool:
    return bool(pc.any(pc.match_substring_regex(values, pattern)).as_py())


def uses_decimal_comma(number_columns: list[Values], delimiter: str, declared: DecimalSeparator | None) -> bool:
    """Declared, or a ``;``-separated file whose numbers have commas and never a decimal point."""
    if declared is not None:
        return declared == ","
    if delimiter != ";":
        return False
    if any(_matches(values, DECIMAL_POINT) for values in number_columns):
        return False
    return any(_matches(values, DECIMAL_COMMA) for values in number_columns)


def to_decimal_point(values: Values) -> Values:
    """``95,5`` as ``95.5`` (only a value that is a number written with a decimal comma)."""
    return pc.if_else(pc.match_substring_regex(values, DECIMAL_COMMA), pc.replace_substring(values, ",", "."), values)


def written_with_comma(values: Values) -> Values:
    """Where a value is a number with a decimal comma (for the hint when the file also has decimal points)."""
    return pc.match_substring_regex(values, DECIMAL_COMMA)


def parse_dates(written: pa.Array, date_format: DateFormat | None) -> tuple[Values, Values]:
    """(dates, valid) of distinct date strings as the file writes them."""
    if date_format is None or date_format == "YYYY-MM-DD":
        day = pc.if_else(pc.match_substring_regex(written, ISO_DATE), pc.utf8_slice_codeunits(written, 0, 10), None)
        pattern = "%Y-%m-%d"
    else:
        found = pc.extract_regex(written, LOCAL_DATE)
        # 4/12/2026 as 04/12/2026: strftime prints days and months with two digits.
        day = pc.replace_substring_regex(pc.struct_field(found, [0]), r"^(\d)([/.])", r"0\1\2")
        day = pc.replace_substring_regex(day, r"([/.])(\d)([/.])", r"\10\2\3")
        pattern = DATE_FORMATS[date_format]
    parsed = pc.strptime(day, format=pattern, unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over to March; a real date prints back as written.
    valid = pc.equal(pc.strftime(parsed, format=pattern), day)
    return pc.cast(pc.if_else(valid, parsed, pa.scalar(None, parsed.type)), pa.date32()), valid


def local_dates(written: pa.Array) -> Values:
    """Where a date is written day and month first (``04/12/2026``, ``04.12.2026``): refused when not declared."""
    return pc.match_substring_regex(written, LOCAL_DATE)


def date_hint(header: str) -> str:
    return (
        f"{header} is not written YYYY-MM-DD; a date such as 04/12/2026 may be day or month first: send "
        "date_format=DD/MM/YYYY, MM/DD/YYYY or DD.MM.YYYY with the upload"
    )
