"""Validate a parsed CSV against the feature catalog: map headers, drop what is not allowed, type every value.

The result holds canonical, typed, PII-free columns only. Anything wrong becomes an :class:`UploadRejected`
listing each problem with its row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from passcompass_assets.core.catalog import Catalog, Column, header_key, load_catalog
from passcompass_assets.core.csv_reader import RawTable, read_csv_bytes
from passcompass_assets.core.errors import MAX_PROBLEMS, Problem, UploadRejected

UploadKind = Literal["students", "final_grades"]
KEY_COLUMNS = ("user_id", "course_id", "period_id")
MAX_ID_LENGTH = 128
# Anchored on the "@" (the look-behind stands for the local part): the obvious ``[^@\s]+@...`` backtracks from
# every start position, quadratic in the value's length (a 1 MB cell took over an hour).
EMAIL = re.compile(r"(?<=[^@\s])@[^@\s]+\.[A-Za-z]{2,}")
# International (+..) or separated (555-123-4567, (555) 123 4567) phone numbers; a bare run of digits is a
# plausible student number and is not taken for a phone number.
PHONE = re.compile(r"^(\+\d[\d\s().\-]{6,}\d|\(?\d{2,4}\)?[\s.\-]\d{2,4}[\s.\-]\d{2,5})$")
ISO_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
TRUE = {"yes", "y", "true", "t", "1"}
FALSE = {"no", "n", "false", "f", "0"}


@dataclass
class ValidatedUpload:
    kind: UploadKind
    frame: pd.DataFrame  # canonical columns, typed; keys first
    dropped_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def course_ids(self) -> list[str]:
        return sorted(self.frame["course_id"].unique().tolist())

    @property
    def period_ids(self) -> list[str]:
        return sorted(self.frame["period_id"].unique().tolist())

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in (*KEY_COLUMNS, "as_of_date")]


def _sheet_rows(mask: pd.Series) -> list[int]:
    """Spreadsheet row numbers (header = row 1) where ``mask`` holds."""
    return [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())[:MAX_PROBLEMS]]


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add_where(self, mask: pd.Series, column: str, message: str, values: pd.Series | None = None) -> None:
        count = int(mask.sum())
        if not count:
            return
        self.total += count
        for row in _sheet_rows(mask):
            shown = f" (got {values.iloc[row - 2][:40]!r})" if values is not None else ""
            self.items.append(Problem(message + shown, row, column))

    def add(self, problem: Problem) -> None:
        self.total += 1
        self.items.append(problem)


def _convert(column: Column, raw: pd.Series, problems: _Problems, header: str) -> pd.Series:
    """Type one column; record every value that does not fit."""
    present = raw != ""
    if column.type in ("integer", "number"):
        values = pd.to_numeric(raw.where(present), errors="coerce")
        bad = present & ~np.isfinite(values.fillna(0).to_numpy(dtype=float)) | (present & values.isna())
        problems.add_where(bad, header, "not a number", raw)
        values = values.where(~bad)
        if column.type == "integer":
            fractional = values.notna() & (values % 1 != 0)
            problems.add_where(fractional, header, "not a whole number", raw)
            values = values.where(~fractional)
        out_of_range = pd.Series(False, index=raw.index)
        if column.min is not None:
            out_of_range |= values < column.min
        if column.max is not None:
            out_of_range |= values > column.max
        problems.add_where(out_of_range, header, f"outside the allowed range {column.min:g} to {column.max:g}", raw)
        # Dropped before the cast: a value past int64 (1e20) would make it raise instead of being reported.
        values = values.where(~out_of_range)
        return values.astype("Int64") if column.type == "integer" else values.astype("float64")
    if column.type == "boolean":
        lowered = raw.str.lower()
        bad = present & ~lowered.isin(TRUE | FALSE)
        problems.add_where(bad, header, "not a yes/no value", raw)
        return lowered.map(lambda v: True if v in TRUE else False if v in FALSE else pd.NA).astype("boolean")
    if column.type == "category":
        mapped = raw.str.lower().map(column.category_lookup)
        bad = present & mapped.isna()
        allowed = ", ".join(column.categories)
        problems.add_where(bad, header, f"not one of: {allowed}", raw)
        return mapped.astype("string")
    if column.type == "date":
        # The calendar date as written: a time or offset after it is ignored (mixing offsets with naive values made
        # pandas return objects without ``.dt``), and pandas' own words such as "now" are not dates.
        day = raw.str.extract(ISO_DATE, expand=False)
        dates = pd.to_datetime(day, errors="coerce", format="%Y-%m-%d")
        bad = present & dates.isna()
        problems.add_where(bad, header, "not a date (expected YYYY-MM-DD)", raw)
        return dates.dt.date.astype("object").where(dates.notna(), None)
    # string (identifiers)
    too_long = raw.str.len() > MAX_ID_LENGTH
    problems.add_where(too_long, header, f"longer than {MAX_ID_LENGTH} characters")
    checked = present & ~too_long
    personal = checked & (raw.str.contains(EMAIL) | raw.str.match(PHONE))
    problems.add_where(personal, header, "looks like an e-mail address or phone number; only opaque ids are accepted")
    return raw.astype("string")


def _map_headers(header: list[str], catalog: Catalog) -> tuple[dict[int, str], list[str], list[Problem]]:
    lookup = catalog.header_lookup
    kept: dict[int, str] = {}
    dropped: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for position, name in enumerate(header):
        canonical = lookup.get(header_key(name))
        if canonical is None:
            dropped.append(name or f"(unnamed column {position + 1})")
        elif canonical in seen:
            problems.append(
                Problem(f"duplicate column: {name!r} and {seen[canonical]!r} both mean {canonical}", 1, name)
            )
        else:
            seen[canonical] = name
            kept[position] = canonical
    return kept, dropped, problems


def validate_table(
    raw: RawTable,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    catalog: Catalog | None = None,
) -> ValidatedUpload:
    catalog = catalog or load_catalog()
    kept, dropped, header_problems = _map_headers(raw.header, catalog)
    if header_problems:
        raise UploadRejected(422, "invalid_header", "the header names a column twice", header_problems)
    if raw.frame.empty:
        raise UploadRejected(422, "no_rows", "the file has a header but no data rows")

    canonical_names = set(kept.values())
    missing = [name for name in ("user_id",) if name not in canonical_names]
    if "course_id" not in canonical_names and not course_id:
        missing.append("course_id")
    if kind == "final_grades" and "final_grade" not in canonical_names:
        missing.append("final_grade")
    if missing:
        raise UploadRejected(
            422,
            "missing_columns",
            f"required column(s) missing: {', '.join(missing)}"
            + (" (course_id may also be sent as a form field)" if "course_id" in missing else ""),
            [Problem(f"required column {name} is missing", 1, name) for name in missing],
        )

    problems = _Problems()
    typed: dict[str, pd.Series] = {}
    header_of: dict[str, str] = {}
    for position, name in kept.items():
        header_of[name] = raw.header[position]
        typed[name] = _convert(catalog[name], raw.frame[f"c{position}"], problems, raw.header[position])

    # Keys: a column value wins, the form field fills the gaps.
    for key, form_value, fallback in (
        ("course_id", course_id, None),
        ("period_id", period_id, default_period_id),
    ):
        fill = (form_value or fallback or "").strip()
        if "\x00" in fill:  # no id holds one, and PostgreSQL cannot store it
            raise UploadRejected(422, "invalid_values", f"{key} contains a NUL character", [Problem("NUL", None, key)])
        column = typed.get(key, pd.Series("", index=raw.frame.index, dtype="string")).fillna("")
        column = column.mask(column == "", fill)
        typed[key] = column
        header_of.setdefault(key, key)
        if not fill:
            problems.add_where(column == "", header_of[key], f"{key} is empty")
    problems.add_where(typed["user_id"].fillna("") == "", header_of["user_id"], "user_id is empty")
    if kind == "final_grades":
        problems.add_where(typed["final_grade"].isna(), header_of["final_grade"], "final_grade is empty")

    keys = pd.DataFrame({k: typed[k] for k in KEY_COLUMNS})
    duplicated = keys.duplicated(keep=False) & (keys["user_id"].fillna("") != "")
    problems.add_where(duplicated, header_of["user_id"], "the same student appears twice for this course and period")

    if problems.items:
        shown = "" if problems.total <= len(problems.items) else f" (first {len(problems.items)} listed)"
        raise UploadRejected(422, "invalid_values", f"{problems.total} value(s) are invalid{shown}", problems.items)

    ordered = [c.name for c in catalog.columns if c.name in typed]
    if kind == "final_grades":
        ordered = [c for c in ordered if c in (*KEY_COLUMNS, "as_of_date", "final_grade")]
    frame = pd.DataFrame({name: typed[name] for name in ordered}).reset_index(drop=True)
    return ValidatedUpload(kind=kind, frame=frame, dropped_columns=dropped, warnings=list(raw.warnings))


def validate_csv(content: bytes, **kwargs: object) -> ValidatedUpload:
    """Bytes of a CSV in, a validated upload out (or :class:`UploadRejected`)."""
    return validate_table(read_csv_bytes(content), **kwargs)  # type: ignore[arg-type]
