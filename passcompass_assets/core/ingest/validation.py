"""Validate a parsed CSV against the feature catalog: map headers, drop what is not allowed, type every value.

The result holds canonical, typed, PII-free columns only. Anything wrong becomes an :class:`Rejected`
listing each problem with its row and column.

Typing runs on Arrow arrays with Arrow's compute kernels (vectorised, no Python object per cell); its regular
expressions are RE2, which runs in linear time, so no value can make a pattern backtrack for hours.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passcompass_assets.core.catalog import RECORD_KEY, Catalog, Column, header_key, load_catalog
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.ingest.csv_reader import RawTable, read_csv_bytes
from passcompass_assets.core.ingest.formats import (
    Formats,
    date_hint,
    local_dates,
    parse_dates,
    to_decimal_point,
    uses_decimal_comma,
    written_with_comma,
)
from passcompass_assets.core.ingest.problems import FileProblems
from passcompass_assets.core.periods import Period

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
# Keys that only say who and when: a file with these alone and columns the catalog does not know carries nothing.
ID_COLUMNS = ("user_id", "course_id", "period_id", "as_of_date")
FINAL_GRADES_ROUTE = "POST /api/v1/final-grades"
# Periods (and courses) a problem names one by one; past these, one line says how many more.
NAMED_PERIODS = 10


@dataclass(frozen=True)
class StorageRules:
    """What an upload that is to be stored must also respect: its periods are declared, a final grade before
    its period's end is confirmed, grades fit their course's scale. (Predictions and loaders validate without.)"""

    periods: dict[str, Period]  # the declared periods
    scale_of: Callable[[list[tuple[str, str]]], dict[tuple[str, str], float]]  # grade_max of the known courses
    default_grade_max: float = 20.0
    today: date = field(default_factory=date.today)
    confirm_before_end: bool = False
    default_period_setting: str = "PASSCOMPASS_DEFAULT_PERIOD_ID"


def _where(values: Values) -> np.ndarray:
    """A boolean array as numpy, null counting as false."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null_where(mask: np.ndarray, values: Values) -> Values:
    return pc.if_else(pa.array(mask), pa.nulls(1, values.type)[0], values) if mask.any() else values


def personal_looking(text: str) -> bool:
    """A header that looks like an e-mail address or phone number (a data row taken for the header) is never named."""
    return bool(re.search(EMAIL, text) or re.match(PHONE, text.strip()))


def _number(
    column: Column, raw: Values, present: np.ndarray, problems: FileProblems, header: str, comma: bool
) -> Values:
    if comma:
        raw = to_decimal_point(raw)
    blank_as_null = pc.if_else(pa.array(present), raw, pa.scalar(None, pa.string()))
    try:  # Arrow's cast takes plain decimal notation (and inf/nan, refused below as not finite)
        values = pc.cast(blank_as_null, pa.float64())
    except pa.ArrowInvalid:  # some cell is not a number: find which
        looks_numeric = pc.match_substring_regex(blank_as_null, NUMBER)
        values = pc.cast(pc.if_else(looks_numeric, blank_as_null, pa.scalar(None, pa.string())), pa.float64())
    wrong = present & ~_where(pc.is_finite(values))
    with_comma = wrong & _where(written_with_comma(blank_as_null)) if wrong.any() else wrong
    problems.add_where(
        with_comma, header, f"{header} is written with a decimal comma: send decimal_separator=, with the upload"
    )
    problems.add_where(wrong & ~with_comma, header, f"{header} is not a number")
    values = _null_where(_where(pc.invert(pc.is_finite(values))), values)  # inf and nan
    if column.type == "integer":
        fractional = _where(pc.not_equal(pc.floor(values), values))
        problems.add_where(fractional, header, f"{header} is not a whole number")
        values = _null_where(fractional, values)
    out_of_range = _where(pc.or_(pc.less(values, column.min), pc.greater(values, column.max)))
    problems.add_where(out_of_range, header, f"{header} is outside {column.min:g} to {column.max:g}")
    # Nulled before the cast: a value past int64 (1e20) would make it raise instead of being reported.
    values = _null_where(out_of_range, values)
    return pc.cast(values, pa.int64()) if column.type == "integer" else values


def _convert(
    column: Column, raw: Values, problems: FileProblems, header: str, formats: Formats, comma: bool
) -> tuple[Values, np.ndarray]:
    """Type one column; record every value that does not fit. Returns the values and where a cell was blank."""
    present = _where(pc.greater(pc.binary_length(raw), 0))
    if column.type in ("integer", "number"):
        return _number(column, raw, present, problems, header, comma), ~present
    if column.type == "boolean":
        lowered = pc.utf8_lower(raw)
        is_true, is_false = pc.is_in(lowered, pa.array(TRUE)), pc.is_in(lowered, pa.array(FALSE))
        problems.add_where(present & ~_where(pc.or_(is_true, is_false)), header, f"{header} is not a yes/no value")
        return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_()))), ~present
    if column.type == "category":
        lookup = column.category_lookup
        index = pc.index_in(pc.utf8_lower(raw), pa.array(list(lookup)))
        mapped = pc.take(pa.array(list(lookup.values()), pa.string()), index)
        allowed = ", ".join(column.categories)
        problems.add_where(present & ~_where(pc.is_valid(mapped)), header, f"{header} is not one of: {allowed}")
        return mapped, ~present
    if column.type == "date":
        # Few distinct dates in a file: parse each once, then spread the results over the rows.
        encoded = pc.dictionary_encode(raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw)
        dates, valid = parse_dates(encoded.dictionary, formats.date_format)
        wrong = present & ~_where(pc.take(valid, encoded.indices))
        undeclared = wrong & _where(pc.take(local_dates(encoded.dictionary), encoded.indices))
        if formats.date_format is None:
            problems.add_where(undeclared, header, date_hint(header))
        else:
            undeclared[:] = False
        expected = formats.date_format or "YYYY-MM-DD"
        problems.add_where(wrong & ~undeclared, header, f"{header} is not a date (expected {expected})")
        return pc.take(dates, encoded.indices), ~present
    # string (identifiers)
    too_long = _where(pc.greater(pc.utf8_length(raw), MAX_ID_LENGTH))
    problems.add_where(too_long, header, f"{header} is longer than {MAX_ID_LENGTH} characters")
    unopenable = _where(pc.match_substring_regex(raw, UNOPENABLE))
    problems.add_where(unopenable & ~too_long, header, f"{header} contains a slash or a control character; ids cannot")
    personal = _where(pc.match_substring_regex(raw, PHONE))
    if pc.any(pc.match_substring(raw, "@")).as_py():
        personal |= _where(pc.match_substring_regex(raw, EMAIL))
    problems.add_where(
        present & ~too_long & personal,
        header,
        f"{header} looks like an e-mail address or phone number; only opaque ids are accepted",
    )
    return raw, ~present


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


def _header_name(name: str, position: int) -> str:
    """A header as the answer may name it: as written, unless it is empty or looks like personal data."""
    if not name.strip():
        return f"(unnamed column {position + 1})"
    return f"(column {position + 1})" if personal_looking(name) else name


def _words(name: str) -> set[str]:
    """``QuizScore``, ``quiz_score`` and ``Quiz Score`` as {quiz, score}."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def suggestions(header: str, catalog: Catalog, n: int = 3) -> list[str]:
    """The catalog columns whose names or aliases are closest to ``header``: by spelling (difflib, on matching
    keys) and by the words they share (``Quiz Score`` is nearer ``quiz_average`` than ``course``)."""
    key, words = header_key(header), _words(header)
    scores: dict[str, float] = {}
    for column in catalog.columns:
        if not column.stored:
            continue
        for spelling in (column.name, *column.aliases):
            ratio = difflib.SequenceMatcher(None, key, header_key(spelling)).ratio()
            shared = len(words & _words(spelling)) / len(words) if words else 0.0
            scores[column.name] = max(scores.get(column.name, 0.0), ratio + 0.5 * shared)
    ranked = sorted((s, name) for name, s in scores.items() if s >= 0.65)
    return [name for _, name in reversed(ranked)][:n]


def _nothing_usable(raw: RawTable, kept: dict[int, str], labels: dict[int, str], catalog: Catalog) -> Rejected:
    problems = []
    for position, name in enumerate(raw.header):
        if position in kept:
            continue
        column = None if personal_looking(name) or not name.strip() else name
        what = column or f"column {position + 1}"
        if position in labels:
            message = f"{what} is a final grade: final grades are sent with {FINAL_GRADES_ROUTE}"
        elif close := suggestions(name, catalog):
            message = f"{what} matches no catalog column; did you mean {' or '.join(close)}?"
        else:
            message = f"{what} matches no catalog column (GET /api/v1/catalog lists them)"
        problems.append(Problem(message, 1, column))
    return Rejected(
        422,
        "nothing_usable",
        "no column of the file but its ids matches the catalog: nothing would be stored; rename the columns "
        "(see problems) or send the file's final grades with " + FINAL_GRADES_ROUTE,
        problems,
    )


def _period_problems(
    periods: Values, header: str, in_file: bool, rules: StorageRules, kind: UploadKind, default_used: bool
) -> FileProblems:
    """Every period the upload names is declared; final grades before a period's end are confirmed. The first
    ``NAMED_PERIODS`` undeclared ones are named one by one, any others in one line (a file of a million distinct
    periods costs a few passes, not a million)."""
    found = FileProblems()
    declared = sorted(rules.periods)
    named = pc.unique(pc.drop_null(periods))
    is_declared = pc.is_in(named, value_set=pa.array(declared, pa.string()))
    unknown = [p for p in pc.filter(named, pc.invert(is_declared)).to_pylist() if p]
    for period_id in unknown[:NAMED_PERIODS]:
        close = difflib.get_close_matches(period_id, declared, n=3, cutoff=0.6)
        hint = f": did you mean {' or '.join(close)}?" if close else ""
        known = f" (declared: {', '.join(declared[:10])})" if declared and not close else ""
        declare = f"PUT /api/v1/periods/{period_id}"
        if default_used and not in_file:
            message = (
                f"no period_id was sent and the default period {period_id} ({rules.default_period_setting}) "
                f"is not declared{hint}{known}. Send period_id, or declare the term first ({declare})"
            )
        else:
            message = f"period {period_id} is not declared{hint}{known}. A new term is declared first ({declare})"
        if in_file:
            found.add_where(_where(pc.equal(periods, period_id)), header, message, "undeclared_period")
        else:
            found.add(Problem(message, None, "period_id"), "undeclared_period")
    if len(unknown) > NAMED_PERIODS:
        rest = ~_where(pc.is_in(periods, value_set=pa.array([*declared, *unknown[:NAMED_PERIODS]], pa.string())))
        rest &= _where(pc.not_equal(periods, ""))
        message = f"{len(unknown) - NAMED_PERIODS} more periods that are not declared"
        found.add_where(rest, header, message, "undeclared_period")
    if kind != "final_grades" or rules.confirm_before_end:
        return found
    for period_id in pc.filter(named, is_declared).to_pylist():
        period = rules.periods[period_id]
        if rules.today <= period.end_date:
            found.add(
                Problem(
                    f"period {period_id} ends on {period.end_date.isoformat()}: final grades before its end need "
                    "confirm_before_end=true (a course may end early)",
                    None,
                    "confirm_before_end",
                ),
                "period_not_ended",
            )
    return found


def _scale_problems(
    typed: dict[str, Values], header_of: dict[str, str], rules: StorageRules, catalog: Catalog
) -> FileProblems:
    """Every grade on a course's own scale above its ``grade_max`` (a course not known yet: the default)."""
    found = FileProblems()
    graded = [n for n in typed if (c := catalog.by_name.get(n)) is not None and c.on_grade_scale]
    if not graded:
        return found
    pairs = pc.binary_join_element_wise(typed["course_id"], typed["period_id"], "\x1f")
    encoded = pc.dictionary_encode(pairs.combine_chunks() if isinstance(pairs, pa.ChunkedArray) else pairs)
    distinct = [_pair(key) for key in encoded.dictionary.to_pylist()]
    known = rules.scale_of(distinct)
    tops = np.array([known.get(pair, rules.default_grade_max) for pair in distinct], dtype=float)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    single_period = len({p for _, p in distinct}) == 1
    for name in graded:
        values = np.asarray(pc.fill_null(pc.cast(typed[name], pa.float64()), np.nan).to_numpy(zero_copy_only=False))
        above = ~np.isnan(values) & (values > tops[codes])
        courses = np.unique(codes[above])
        if len(courses) > NAMED_PERIODS:  # the first courses one by one, the others in one line
            rest = above & ~np.isin(codes, courses[:NAMED_PERIODS])
            header = header_of[name]
            found.add_where(rest, header, f"{header} above the scale of {len(courses) - NAMED_PERIODS} more courses")
        for code in courses[:NAMED_PERIODS]:
            course, period = distinct[code]
            new = "the new course" if (course, period) not in known else "course"
            where = "" if single_period else f" in {period}"
            header = header_of[name]
            found.add_where(
                above & (codes == code),
                header,
                f"{header} above {tops[code]:g}, the scale of {new} {course}{where}; set the course's scale on its "
                f"page or with PUT /api/v1/courses/{course}",
            )
    return found


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
    formats: Formats | None = None,
    keep_labels: bool = True,
    rules: StorageRules | None = None,
) -> ValidatedUpload:
    """Type and check every value of ``raw``; every problem of the file in one :class:`Rejected`, grouped.
    ``keep_labels=False`` (student data sent to be stored) drops label columns with a warning; ``rules`` adds
    what storing needs (declared periods, confirmed final grades, course scales)."""
    catalog = catalog or load_catalog()
    formats = formats or Formats()
    kept, dropped, header_problems = _map_headers(raw.header, catalog)
    if header_problems:
        raise Rejected(422, "invalid_header", "the header names a column twice", header_problems)
    warnings = list(raw.warnings)
    labels = {p: n for p, n in kept.items() if catalog[n].role == "label"} if not keep_labels else {}
    for position in labels:
        name = _header_name(raw.header[position], position)
        dropped.append(name)
        warnings.append(
            f"{name} holds final grades: not stored from student data; final grades are written only with "
            f"{FINAL_GRADES_ROUTE} (before the course's period ends, with confirm_before_end=true)"
        )
        del kept[position]
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
    if kind == "students" and canonical_names <= set(ID_COLUMNS) and len(kept) < len(raw.header):
        raise _nothing_usable(raw, kept, labels, catalog)

    for position in range(len(raw.header)):
        if position not in kept:
            raw.release(position)

    numbers = [p for p, n in kept.items() if catalog[n].type in ("integer", "number")]
    comma = formats.decimal_separator == "," or (
        formats.decimal_separator is None
        and raw.delimiter == ";"
        and uses_decimal_comma([raw.column(p) for p in numbers], raw.delimiter, None)
    )
    if comma and formats.decimal_separator is None:
        warnings.append("numbers read with decimal commas (a ;-separated file with no decimal points)")

    def convert(position: int) -> tuple[Values, np.ndarray, FileProblems]:
        found = FileProblems()
        try:
            values, blank = _convert(
                catalog[kept[position]], raw.column(position), found, raw.header[position], formats, comma
            )
            return values, blank, found
        finally:
            raw.release(position)

    # Arrow's kernels release the GIL: columns are typed side by side, a few at a time (bounded memory).
    problems = FileProblems()
    typed: dict[str, Values] = {}
    blank: dict[str, np.ndarray] = {}
    header_of: dict[str, str] = {}
    with ThreadPoolExecutor(CONVERT_THREADS) as pool:
        for position, (values, empty, found) in zip(kept, pool.map(convert, kept), strict=True):
            typed[kept[position]] = values
            blank[kept[position]] = empty
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
            problems.add_where(_where(pc.equal(column, "")), header_of[key], f"{header_of[key]} is empty")
    _within_bounds(typed, header_of, {"course_id": max_courses, "period_id": max_periods})
    problems.add_where(blank["user_id"], header_of["user_id"], f"{header_of['user_id']} is empty")
    if kind == "final_grades":
        problems.add_where(blank["final_grade"], header_of["final_grade"], f"{header_of['final_grade']} is empty")

    # A student may appear once per course, period and date: several dated snapshots make a history backfill.
    key_names = [*RECORD_KEY, *(["as_of_date"] if "as_of_date" in typed and kind == "students" else [])]
    keys = pa.table({k: typed[k] for k in key_names})
    # Distinct user ids (the usual case) cannot repeat a key; otherwise group by the key, then find the rows.
    if (
        len(pc.unique(keys["user_id"])) < keys.num_rows
        and keys.group_by(key_names).aggregate([]).num_rows < keys.num_rows
    ):
        duplicated = keys.to_pandas().duplicated(keep=False).to_numpy() & ~blank["user_id"]
        where = "course, period and date" if len(key_names) > len(RECORD_KEY) else "course and period"
        header = header_of["user_id"]
        problems.add_where(
            duplicated, header, f"the same {header} more than once for one {where}: keep one row per student"
        )

    if rules is not None:
        in_file = "period_id" in kept.values()
        default_used = not (period_id or "").strip()
        problems.extend(
            _period_problems(typed["period_id"], header_of["period_id"], in_file, rules, kind, default_used)
        )
        problems.extend(_scale_problems(typed, header_of, rules, catalog))

    if problems:
        raise problems.rejected()

    ordered = [c.name for c in catalog.columns if c.name in typed]
    if kind == "final_grades":
        ordered = [c for c in ordered if c in (*RECORD_KEY, "as_of_date", "final_grade")]
    table = pa.table({name: typed[name] for name in ordered})
    return ValidatedUpload(kind=kind, table=table, dropped_columns=dropped, warnings=warnings)


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
    formats: Formats | None = None,
    keep_labels: bool = True,
    rules: StorageRules | None = None,
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
        formats=formats,
        keep_labels=keep_labels,
        rules=rules,
    )


def _pair(key: str) -> tuple[str, str]:
    course_id, _, period_id = key.partition("\x1f")
    return course_id, period_id


def grades_within_scale(
    validated: ValidatedUpload, scale_of: dict[tuple[str, str], float], default_grade_max: float
) -> list[Problem]:
    """Every grade on a course's own scale (``on_grade_scale`` columns) above the course's ``grade_max``
    (``scale_of``; a course not known yet takes ``default_grade_max``), grouped by column and course."""
    table = validated.table
    rules = StorageRules({}, lambda pairs: {p: scale_of[p] for p in pairs if p in scale_of}, default_grade_max)
    typed = {name: table[name] for name in table.column_names}
    return _scale_problems(typed, {n: n for n in typed}, rules, load_catalog()).grouped()
