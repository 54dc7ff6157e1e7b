"""Validate a parsed CSV against the feature catalog: map headers, drop what is not allowed, type every value.

The result holds canonical, typed, PII-free columns only. Anything wrong becomes an :class:`Rejected`
listing each problem with its row and column.

Typing runs on Arrow arrays with Arrow's compute kernels (vectorised, no Python object per cell); its regular
expressions are RE2, which runs in linear time, so no value can make a pattern backtrack for hours.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passcompass_assets.core.catalog import RECORD_KEY, Catalog, Column, header_key, load_catalog
from passcompass_assets.core.errors import MAX_PROBLEMS, Problem, Rejected
from passcompass_assets.core.ingest.csv_reader import RawTable, read_csv_bytes

UploadKind = Literal["students", "final_grades"]
MAX_ID_LENGTH = 128
# Distinct courses and periods one upload may name (Settings.max_upload_courses / max_upload_periods).
MAX_UPLOAD_COURSES = 2000
MAX_UPLOAD_PERIODS = 50
EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
# International (+..) or separated (555-123-4567, (555) 123 4567) phone numbers; a bare run of digits is a
# plausible student number and is not taken for a phone number.
PHONE = r"^(\+\d[\d\s().\-]{6,}\d|\(?\d{2,4}\)?[\s.\-]\d{2,4}[\s.\-]\d{2,5})$"
# What no id may hold: a slash (an id is a segment of the API's paths: /courses/{course_id}) or a control
# character (C0, DEL, C1). Such an id could be stored but never opened.
UNOPENABLE = r"[/\x00-\x1f\x7f-\x{9f}]"
# What a number cell may hold: decimal notation with an optional exponent (no "1_000", "0x1F", "1,5" or words).
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# The calendar date as written; a time and offset after it are ignored.
ISO_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
TRUE = ("yes", "y", "true", "t", "1")
FALSE = ("no", "n", "false", "f", "0")
CONVERT_THREADS = min(4, os.cpu_count() or 1)
# How a validated (or landed) table looks in pandas: nullable integers and booleans, string columns.
PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype()}


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A typed Arrow table as the frame callers know: Int64, float64, boolean, string and date objects."""
    return table.to_pandas(types_mapper=PANDAS_TYPES.get)


@dataclass
class ValidatedUpload:
    kind: UploadKind
    table: pa.Table  # canonical columns, typed; keys first
    dropped_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def frame(self) -> pd.DataFrame:
        return to_frame(self.table)

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def course_ids(self) -> list[str]:
        return sorted(pc.unique(self.table["course_id"]).to_pylist())

    @property
    def period_ids(self) -> list[str]:
        return sorted(pc.unique(self.table["period_id"]).to_pylist())

    @property
    def course_periods(self) -> list[tuple[str, str]]:
        """The distinct (course, period) pairs the rows hold (never every course with every period)."""
        pairs = self.table.select(["course_id", "period_id"]).group_by(["course_id", "period_id"]).aggregate([])
        return list(zip(pairs["course_id"].to_pylist(), pairs["period_id"].to_pylist(), strict=True))


Values: TypeAlias = pa.Array | pa.ChunkedArray


def _where(values: Values) -> np.ndarray:
    """A boolean array as numpy, null counting as false."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null_where(mask: np.ndarray, values: Values) -> Values:
    return pc.if_else(pa.array(mask), pa.nulls(1, values.type)[0], values) if mask.any() else values


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add_where(self, mask: np.ndarray, column: str, message: str) -> None:
        """One problem per row where ``mask`` holds. It names the row and the column, never the value: a value in
        the wrong column may be a name or an e-mail address."""
        count = int(mask.sum())
        if not count:
            return
        self.total += count
        for position in np.flatnonzero(mask)[:MAX_PROBLEMS]:
            # Spreadsheet row numbers: the header is row 1.
            self.items.append(Problem(message, int(position) + 2, column))

    def extend(self, other: _Problems) -> None:
        self.total += other.total
        self.items += other.items

    def add(self, problem: Problem) -> None:
        self.total += 1
        self.items.append(problem)


def _number(column: Column, raw: Values, present: np.ndarray, problems: _Problems, header: str) -> Values:
    blank_as_null = pc.if_else(pa.array(present), raw, pa.scalar(None, pa.string()))
    try:  # Arrow's cast takes plain decimal notation (and inf/nan, refused below as not finite)
        values = pc.cast(blank_as_null, pa.float64())
    except pa.ArrowInvalid:  # some cell is not a number: find which
        looks_numeric = pc.match_substring_regex(blank_as_null, NUMBER)
        values = pc.cast(pc.if_else(looks_numeric, blank_as_null, pa.scalar(None, pa.string())), pa.float64())
    problems.add_where(present & ~_where(pc.is_finite(values)), header, "not a number")
    values = _null_where(_where(pc.invert(pc.is_finite(values))), values)  # inf and nan
    if column.type == "integer":
        fractional = _where(pc.not_equal(pc.floor(values), values))
        problems.add_where(fractional, header, "not a whole number")
        values = _null_where(fractional, values)
    out_of_range = _where(pc.or_(pc.less(values, column.min), pc.greater(values, column.max)))
    problems.add_where(out_of_range, header, f"outside the allowed range {column.min:g} to {column.max:g}")
    # Nulled before the cast: a value past int64 (1e20) would make it raise instead of being reported.
    values = _null_where(out_of_range, values)
    return pc.cast(values, pa.int64()) if column.type == "integer" else values


def _date(raw: Values) -> tuple[Values, Values]:
    """(dates, valid) of ISO-8601 date strings."""
    day = pc.if_else(pc.match_substring_regex(raw, ISO_DATE), pc.utf8_slice_codeunits(raw, 0, 10), None)
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over to March; a real date prints back as written.
    valid = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day)
    return pc.cast(pc.if_else(valid, parsed, pa.scalar(None, parsed.type)), pa.date32()), valid


def _convert(column: Column, raw: Values, problems: _Problems, header: str) -> Values:
    """Type one column; record every value that does not fit."""
    present = _where(pc.greater(pc.binary_length(raw), 0))
    if column.type in ("integer", "number"):
        return _number(column, raw, present, problems, header)
    if column.type == "boolean":
        lowered = pc.utf8_lower(raw)
        is_true, is_false = pc.is_in(lowered, pa.array(TRUE)), pc.is_in(lowered, pa.array(FALSE))
        problems.add_where(present & ~_where(pc.or_(is_true, is_false)), header, "not a yes/no value")
        return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
    if column.type == "category":
        lookup = column.category_lookup
        index = pc.index_in(pc.utf8_lower(raw), pa.array(list(lookup)))
        mapped = pc.take(pa.array(list(lookup.values()), pa.string()), index)
        allowed = ", ".join(column.categories)
        problems.add_where(present & ~_where(pc.is_valid(mapped)), header, f"not one of: {allowed}")
        return mapped
    if column.type == "date":
        # Few distinct dates in a file: parse each once, then spread the results over the rows.
        encoded = pc.dictionary_encode(raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw)
        dates, valid = _date(encoded.dictionary)
        problems.add_where(
            present & ~_where(pc.take(valid, encoded.indices)), header, "not a date (expected YYYY-MM-DD)"
        )
        return pc.take(dates, encoded.indices)
    # string (identifiers)
    too_long = _where(pc.greater(pc.utf8_length(raw), MAX_ID_LENGTH))
    problems.add_where(too_long, header, f"longer than {MAX_ID_LENGTH} characters")
    unopenable = _where(pc.match_substring_regex(raw, UNOPENABLE))
    problems.add_where(unopenable & ~too_long, header, "contains a slash or a control character; ids cannot")
    personal = _where(pc.match_substring_regex(raw, PHONE))
    if pc.any(pc.match_substring(raw, "@")).as_py():
        personal |= _where(pc.match_substring_regex(raw, EMAIL))
    problems.add_where(
        present & ~too_long & personal,
        header,
        "looks like an e-mail address or phone number; only opaque ids are accepted",
    )
    return raw


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (a course or period sent as a form field), or None. Never quotes it."""
    if re.search(UNOPENABLE.replace("\\x{9f}", "\\x9f"), value):
        return "contains a slash or a control character; ids cannot"
    if re.search(PHONE, value) or re.search(EMAIL, value):
        return "looks like an e-mail address or phone number; only opaque ids are accepted"
    return None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as a line of text (a title), or None: a control character (NUL cannot even
    be stored on PostgreSQL) or a lone surrogate."""
    if re.search(r"[\x00-\x1f\x7f-\x9f]", value):
        return "contains a control character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def dropped_name(name: str, position: int) -> str:
    """How a dropped column is named in the upload's record: its header, unless the header itself looks like
    personal data (an e-mail address or phone number as a column name), which is never stored."""
    if re.search(PHONE, name.strip()) or re.search(EMAIL, name):
        return f"(column {position + 1}: its name looks like an e-mail address or phone number)"
    return name or f"(unnamed column {position + 1})"


def _map_headers(header: list[str], catalog: Catalog) -> tuple[dict[int, str], list[str], list[Problem]]:
    lookup = catalog.header_lookup
    kept: dict[int, str] = {}
    dropped: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for position, name in enumerate(header):
        canonical = lookup.get(header_key(name))
        if canonical is None:
            dropped.append(dropped_name(name, position))
        elif canonical in seen:
            problems.append(
                Problem(f"duplicate column: {name!r} and {seen[canonical]!r} both mean {canonical}", 1, name)
            )
        else:
            seen[canonical] = name
            kept[position] = canonical
    return kept, dropped, problems


def _within_bounds(typed: dict[str, Values], header_of: dict[str, str], bounds: dict[str, int]) -> None:
    """Refuse a file naming more distinct courses or periods than one upload may: each becomes a row, and a
    column of the wrong thing (student numbers in the course column) would make thousands."""
    for key, bound in bounds.items():
        distinct = pc.count_distinct(typed[key]).as_py()
        if distinct > bound:
            setting = "PASSCOMPASS_MAX_UPLOAD_" + ("COURSES" if key == "course_id" else "PERIODS")
            message = f"{distinct} different values of {key}; one upload may name at most {bound} ({setting})"
            raise Rejected(422, "too_many_keys", message, [Problem(message, None, header_of[key])])


def validate_table(
    raw: RawTable,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    catalog: Catalog | None = None,
    max_courses: int = MAX_UPLOAD_COURSES,
    max_periods: int = MAX_UPLOAD_PERIODS,
) -> ValidatedUpload:
    catalog = catalog or load_catalog()
    kept, dropped, header_problems = _map_headers(raw.header, catalog)
    if header_problems:
        raise Rejected(422, "invalid_header", "the header names a column twice", header_problems)
    if not raw.rows:
        raise Rejected(422, "no_rows", "the file has a header but no data rows")

    canonical_names = set(kept.values())
    missing = [name for name in ("user_id",) if name not in canonical_names]
    if "course_id" not in canonical_names and not course_id:
        missing.append("course_id")
    if kind == "final_grades" and "final_grade" not in canonical_names:
        missing.append("final_grade")
    if missing:
        raise Rejected(
            422,
            "missing_columns",
            f"required column(s) missing: {', '.join(missing)}"
            + (" (course_id may also be sent as a form field)" if "course_id" in missing else ""),
            [Problem(f"required column {name} is missing", 1, name) for name in missing],
        )

    for position in range(len(raw.header)):
        if position not in kept:
            raw.release(position)

    def convert(position: int) -> tuple[Values, _Problems]:
        found = _Problems()
        try:
            return _convert(catalog[kept[position]], raw.column(position), found, raw.header[position]), found
        finally:
            raw.release(position)

    # Arrow's kernels release the GIL: columns are typed side by side, a few at a time (bounded memory).
    problems = _Problems()
    typed: dict[str, Values] = {}
    header_of: dict[str, str] = {}
    with ThreadPoolExecutor(CONVERT_THREADS) as pool:
        for position, (values, found) in zip(kept, pool.map(convert, kept), strict=True):
            typed[kept[position]] = values
            header_of[kept[position]] = raw.header[position]
            problems.extend(found)

    # Keys: a column value wins, the form field fills the gaps.
    for key, form_value, fallback in (
        ("course_id", course_id, None),
        ("period_id", period_id, default_period_id),
    ):
        fill = (form_value or fallback or "").strip()
        if "\x00" in fill:  # no id holds one, and PostgreSQL cannot store it
            raise Rejected(422, "invalid_values", f"{key} contains a NUL character", [Problem("NUL", None, key)])
        if problem := id_problem(fill):  # a form field is checked as the column's cells are
            raise Rejected(422, "invalid_values", f"the {key} field {problem}", [Problem(problem, None, key)])
        column = typed.get(key, pa.nulls(raw.rows, pa.string()))
        column = pc.if_else(pc.equal(pc.fill_null(column, ""), ""), fill, column)
        typed[key] = column
        header_of.setdefault(key, key)
        if not fill:
            problems.add_where(_where(pc.equal(column, "")), header_of[key], f"{key} is empty")
    _within_bounds(typed, header_of, {"course_id": max_courses, "period_id": max_periods})
    problems.add_where(_where(pc.equal(typed["user_id"], "")), header_of["user_id"], "user_id is empty")
    if kind == "final_grades":
        problems.add_where(_where(pc.is_null(typed["final_grade"])), header_of["final_grade"], "final_grade is empty")

    # A student may appear once per course, period and date: several dated snapshots make a history backfill.
    key_names = [*RECORD_KEY, *(["as_of_date"] if "as_of_date" in typed and kind == "students" else [])]
    keys = pa.table({k: typed[k] for k in key_names})
    # Distinct user ids (the usual case) cannot repeat a key; otherwise group by the key, then find the rows.
    if (
        len(pc.unique(keys["user_id"])) < keys.num_rows
        and keys.group_by(key_names).aggregate([]).num_rows < keys.num_rows
    ):
        duplicated = keys.to_pandas().duplicated(keep=False).to_numpy() & _where(pc.not_equal(typed["user_id"], ""))
        where = "course, period and date" if len(key_names) > len(RECORD_KEY) else "course and period"
        problems.add_where(duplicated, header_of["user_id"], f"the same student appears twice for this {where}")

    if problems.items:
        listed = min(len(problems.items), MAX_PROBLEMS)  # the rejection keeps the first MAX_PROBLEMS
        shown = "" if problems.total <= listed else f" (first {listed} listed)"
        raise Rejected(422, "invalid_values", f"{problems.total} value(s) are invalid{shown}", problems.items)

    ordered = [c.name for c in catalog.columns if c.name in typed]
    if kind == "final_grades":
        ordered = [c for c in ordered if c in (*RECORD_KEY, "as_of_date", "final_grade")]
    table = pa.table({name: typed[name] for name in ordered})
    return ValidatedUpload(kind=kind, table=table, dropped_columns=dropped, warnings=list(raw.warnings))


def validate_csv(
    content: bytes,
    *,
    kind: UploadKind = "students",
    course_id: str | None = None,
    period_id: str | None = None,
    default_period_id: str = "default",
    catalog: Catalog | None = None,
    max_courses: int = MAX_UPLOAD_COURSES,
    max_periods: int = MAX_UPLOAD_PERIODS,
) -> ValidatedUpload:
    """Bytes of a CSV in, a validated upload out (or :class:`Rejected`)."""
    return validate_table(
        read_csv_bytes(content),
        kind=kind,
        course_id=course_id,
        period_id=period_id,
        default_period_id=default_period_id,
        catalog=catalog,
        max_courses=max_courses,
        max_periods=max_periods,
    )


def _pair(key: str) -> tuple[str, str]:
    course_id, _, period_id = key.partition("\x1f")
    return course_id, period_id


def grades_within_scale(
    validated: ValidatedUpload, scale_of: dict[tuple[str, str], float], default_grade_max: float
) -> list[Problem]:
    """Every grade on a course's own scale (``on_grade_scale`` columns) that is above the course's ``grade_max``
    (``scale_of``; a course not known yet takes ``default_grade_max``) or below 0, by row and column."""
    catalog = load_catalog()
    table = validated.table
    pairs = pc.binary_join_element_wise(table["course_id"], table["period_id"], "\x1f").to_pylist()
    tops = np.array([scale_of.get(_pair(key), default_grade_max) for key in pairs], dtype=float)
    found = _Problems()
    for name in table.column_names:
        column = catalog.by_name.get(name)
        if column is None or not column.on_grade_scale:
            continue
        values = table[name].to_numpy(zero_copy_only=False).astype(float)
        outside = ~np.isnan(values) & ((values > tops) | (values < 0))
        found.add_where(outside, name, "outside the course's grade scale (0 to its grade_max)")
    return found.items
