"""Property-based tests of the CSV reader and validator (hypothesis): whatever the bytes, the answer is an accepted
upload holding catalog columns only, or an :class:`Rejected` with a documented status; never another error.

No database: these run in milliseconds per example. In CI the examples are derandomised (same run every time);
locally each run explores new ones.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os

import pandas as pd
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from passcompass_assets.core.catalog import RECORD_KEY, load_catalog
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH, ValidatedUpload, validate_csv

CATALOG = load_catalog()
DOCUMENTED = {400, 413, 415, 422}
FUZZ = settings(
    max_examples=int(os.environ.get("PASSCOMPASS_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Header spellings: canonical names, aliases with case and separator noise, PII columns, junk.
SPELLINGS = [s for c in CATALOG.columns for s in (c.name, *c.aliases)]
header_names = st.one_of(
    st.sampled_from(SPELLINGS),
    st.sampled_from(SPELLINGS).map(lambda s: s.upper().replace("_", " ")),
    st.sampled_from(["Name", "Email", "Phone", "notes", "", " ", "user_id"]),
    st.text(max_size=12),
)
# Cells: what a column of each catalog type may hold, and what it must not.
cells = st.one_of(
    st.sampled_from(["", " ", "yes", "No", "F", "male", "GP", "teacher", "2026-09-07", "2026-02-30", "17", "-0"]),
    st.sampled_from(
        ["NaN", "nan", "inf", "-Infinity", "1e309", "1e-400", "0x1F", "1_000", "1,5", "99999999999999999999"]
    ),
    st.sampled_from(["=1+1", "@SUM(A1)", "'; DROP TABLE uploads;--", "ana@example.org", "+44 20 7946 0958", '"q"']),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=20),
)
delimiters = st.sampled_from([",", ";", "\t", "|"])
line_ends = st.sampled_from(["\n", "\r\n", "\r"])
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])


def _encode(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


def valid_cells(name: str) -> st.SearchStrategy[str]:
    """Values a catalog column accepts, spelt as people spell them."""
    column = CATALOG[name]
    if column.type == "integer":
        return st.integers(int(column.min), int(column.max)).map(str)
    if column.type == "number":
        return st.floats(column.min, column.max).map(lambda x: f"{x:.6g}")
    if column.type == "boolean":
        return st.sampled_from(["yes", "no", "Y", "n", "TRUE", "false", "1", "0", ""])
    if column.type == "category":
        return st.sampled_from([*column.category_lookup, ""]).map(lambda v: v.upper() if len(v) > 3 else v)
    if column.type == "date":
        return st.dates().map(lambda d: d.isoformat())
    return st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV-like file: a table of catalog and other columns, sometimes clean (it must then be accepted with its
    values typed), sometimes with hostile values, ragged rows or no quoting."""
    names = draw(st.lists(st.sampled_from(sorted(CATALOG.by_name)), max_size=6, unique=True))
    keys = ["user_id", *(["course_id"] if draw(st.booleans()) else [])]
    header = [*keys, *(n for n in names if n not in keys)]
    header += draw(st.lists(header_names, max_size=2))
    width, clean = len(header), draw(st.booleans())
    column_cells = [valid_cells(h) if clean and h in CATALOG.by_name else cells for h in header]
    rows = draw(
        st.lists(st.tuples(*column_cells).map(list), max_size=6)
        | st.lists(st.lists(cells, max_size=width + 2), max_size=4)
    )
    delimiter, line_end = draw(delimiters), draw(line_ends)
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end, quoting=quoting)
    for row in (header, *rows):
        writer.writerow(row)
    text = buffer.getvalue() if draw(st.booleans()) else line_end.join(delimiter.join(r) for r in (header, *rows))
    return _encode(text, draw(encodings))


def check_outcome(content: bytes, **kwargs: object) -> ValidatedUpload | None:
    """The property: an accepted upload holds typed catalog columns only; anything else is a documented rejection."""
    try:
        validated = validate_csv(content, **kwargs)
    except Rejected as exc:
        event(f"rejected {exc.status} {exc.error}")
        assert exc.status in DOCUMENTED, exc
        body = json.loads(json.dumps(exc.as_dict()))  # the API answers exactly this
        assert body["error"] and body["detail"]
        for problem in body["problems"]:
            assert problem["row"] is None or problem["row"] >= 1
        return None
    event("accepted")
    frame = validated.frame
    assert set(frame.columns) <= set(CATALOG.by_name), frame.columns
    assert list(frame.columns[:3]) == list(RECORD_KEY)
    assert len(frame) == validated.rows > 0
    for key in RECORD_KEY:
        values = frame[key]
        assert values.notna().all() and (values.str.len() > 0).all() and (values.str.len() <= MAX_ID_LENGTH).all()
    assert not frame.duplicated(list(RECORD_KEY)).any()
    for name in frame.columns:
        column = CATALOG[name]
        if column.type in ("integer", "number"):
            present = frame[name].dropna().astype(float)
            assert present.map(math.isfinite).all()
            assert ((present >= column.min) & (present <= column.max)).all(), (name, present.tolist())
        elif column.type == "category":
            assert frame[name].dropna().isin(list(column.categories)).all()
    return validated


@FUZZ
@given(content=csv_files(), course_id=st.sampled_from([None, "c", " c "]))
@example(content=b'"' + b"x" * 200_000 + b'",user_id\n1,s\n', course_id="c")  # header cell past csv's field limit
@example(content=b"user_id,course_id,as_of_date\ns,c,2026-01-05\nt,c,2026-01-05T10:00:00Z\n", course_id=None)
@example(content=b"user_id,course_id,lms_logins\ns,c,99999999999999999999999\n", course_id=None)
def test_any_csv_is_accepted_cleanly_or_rejected_with_a_documented_status(content: bytes, course_id: str | None):
    check_outcome(content, course_id=course_id)


@FUZZ
@given(content=st.binary(max_size=512))
@example(content=codecs.BOM_UTF16_LE + b"u\x00")  # truncated UTF-16
@example(content=b"\xff\xfe")
def test_arbitrary_bytes_never_raise_anything_else(content: bytes):
    check_outcome(content, course_id="c")


ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.#", min_size=1, max_size=20).filter(
    lambda s: not s.isdigit() or len(s) < 7
)


@FUZZ
@given(
    users=st.lists(ids, min_size=1, max_size=30, unique=True),
    ages=st.lists(st.integers(min_value=10, max_value=99), min_size=30, max_size=30),
    grades=st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), min_size=30, max_size=30),
    delimiter=st.sampled_from([",", ";", "\t"]),
    line_end=line_ends,
    encoding=encodings,
)
def test_valid_tables_round_trip(users, ages, grades, delimiter, line_end, encoding):
    """Valid data, however it is spelt (delimiter, line ends, encoding, quoting), is accepted with its values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(["StudentID", "Course", "age", "G1", "Name"])
    for user, age, grade in zip(users, ages, grades, strict=False):
        writer.writerow([user, "bio-101", age, repr(grade), "Ana Lima"])
    assume(users)
    validated = check_outcome(_encode(buffer.getvalue(), encoding))
    assert validated is not None
    expected = pd.DataFrame({"user_id": users, "age": ages[: len(users)], "g1": grades[: len(users)]})
    assert validated.frame["user_id"].tolist() == expected["user_id"].tolist()
    assert validated.frame["age"].tolist() == expected["age"].tolist()
    # pandas parses floats fast, not exactly: a few ulps off the shortest repr (0.015293394606521463 -> ...214).
    parsed = validated.frame["interim_grade_1"].tolist()
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(parsed, expected["g1"], strict=True)), (parsed, grades)
    assert validated.dropped_columns == ["Name"]
