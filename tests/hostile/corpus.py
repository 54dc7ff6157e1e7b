"""The hostile-input corpus: files people (and attackers) send instead of a clean CSV, with the documented answer.

Each case names the answer of ``POST /api/v1/uploads`` (the inbox answers the same, by moving a rejected file to
``inbox/rejected/`` with the error beside it). Small cases are also written to ``tests/hostile/files/`` so they
can be tried by hand (``curl -F file=@tests/hostile/files/utf16_le_bom.csv ...``); big ones are generated at test
time only. Regenerate the folder after changing this module: ``.venv/bin/python tests/hostile/corpus.py``.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FILES = Path(__file__).with_name("files")
MB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    name: str
    make: Callable[[], bytes]
    status: int  # the API's answer; 202 when the data is valid and accepted
    error: str | None = None  # the ``error`` code of a rejection
    why: str = ""
    # Accepted cases: the user_ids that must reach ``student_records`` verbatim once the upload is applied.
    ids: tuple[str, ...] = ()
    filename: str = "data.csv"
    content_type: str = "text/csv"
    form: dict[str, str] = field(default_factory=dict)
    big: bool = False  # generated at test time, never written to FILES
    api_only: bool = False  # needs a form field, a file name or a content type: not an inbox case

    @property
    def content(self) -> bytes:
        return self.make()


def _csv(text: str, encoding: str = "utf-8") -> Callable[[], bytes]:
    return lambda: text.encode(encoding)


def _raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


SQL_IDS = ("1'; DROP TABLE student_records;--", "Robert'); DROP TABLE uploads;--", 'x" OR "1"="1')
FORMULA_IDS = ("=1+1", "+cmd|' -C calc'!A0", "@SUM(A1)", "-2+3")
# (An id with a line break or a tab is refused: control characters; the end-of-data marker stands alone.)
COPY_IDS = ("\\.", "a\\.b", "\\N", "back\\slash")


def _quoted(values: tuple[str, ...]) -> str:
    return "".join('"' + v.replace('"', '""') + '",c\n' for v in values)


CASES: tuple[Hostile, ...] = (
    Hostile("empty", _raw(b""), 400, "empty_file", "nothing to read"),
    Hostile("blank_lines", _raw(b"\r\n  \n\t\n"), 400, "empty_file", "only blanks"),
    Hostile("header_only", _csv("user_id,course_id,age\r\n"), 422, "no_rows", "a header alone"),
    Hostile("binary_bytes", _raw(bytes(range(256)) * 8), 415, "not_a_csv", "binary data (NUL bytes)"),
    Hostile("png_named_csv", _raw(b"\x89PNG\r\n\x1a\n" + bytes(64)), 415, "not_a_csv", "an image renamed .csv"),
    Hostile("xlsx_named_csv", _raw(b"PK\x03\x04" + bytes(64)), 415, "not_a_csv", "a workbook renamed .csv"),
    Hostile("gzip", _raw(b"\x1f\x8b\x08\x00" + bytes(32)), 415, "not_a_csv", "a compressed file"),
    Hostile("nul_bytes", _csv("user_id,course_id\ns1\x00,c\n"), 415, "not_a_csv", "a NUL byte in a cell"),
    Hostile("wrong_delimiter", _csv("user_id|course_id|age\ns1|c|17\n"), 422, "missing_columns", "| is no delimiter"),
    Hostile("excel_sep_line", _csv("sep=;\nuser_id;course_id\ns1;c\n"), 422, "missing_columns", "Excel's sep= line"),
    Hostile(
        "mixed_line_ends",
        _csv("user_id,course_id,age\r\nmixed-1,c,17\nmixed-2,c,18\rmixed-3,c,19\r\n"),
        202,
        why="CRLF, LF and CR in one file",
        ids=("mixed-1", "mixed-2", "mixed-3"),
    ),
    Hostile(
        "utf16_le_bom",
        _raw(codecs.BOM_UTF16_LE + "user_id,course_id,Mjob\nutf16-é,c,teacher\n".encode("utf-16-le")),
        202,
        why="UTF-16 with BOM",
        ids=("utf16-é",),
    ),
    Hostile(
        "utf16_be_bom",
        _raw(codecs.BOM_UTF16_BE + "user_id,course_id\nutf16be-1,c\n".encode("utf-16-be")),
        202,
        ids=("utf16be-1",),
    ),
    Hostile(
        "utf16_no_bom",
        _csv("user_id,course_id\nx,c\n", "utf-16-le"),
        415,
        "not_a_csv",
        "UTF-16 without a BOM looks like binary (NUL bytes)",
    ),
    Hostile(
        "utf16_nul_char",
        _raw(codecs.BOM_UTF16_LE + "user_id,course_id\ns\x001,c\n".encode("utf-16-le")),
        415,
        "not_a_csv",
        "U+0000 inside UTF-16 text (pandas cut the value at it)",
    ),
    Hostile("utf16_truncated", _raw(codecs.BOM_UTF16_LE + b"u\x00s\x00e"), 400, "unreadable_csv", "odd byte count"),
    Hostile("latin1", _csv("user_id,course_id,Mjob\nJosé-latin1,c,teacher\n", "latin-1"), 202, ids=("José-latin1",)),
    Hostile("utf8_bom", _raw(codecs.BOM_UTF8 + b"user_id,course_id\nbom-1,c\n"), 202, ids=("bom-1",)),
    Hostile(
        "quoted_newlines",
        _csv('user_id,course_id,notes,absences\nqn-1,c,"line one\nline two",1\n"qn-2",c,"a\r\nb",2\n'),
        202,
        why="newlines inside quotes, in a dropped column (in an id: a control character, refused)",
        ids=("qn-1", "qn-2"),
    ),
    Hostile("duplicate_header", _csv("user_id,course_id,age,age\ns1,c,17,18\n"), 422, "invalid_header"),
    Hostile("duplicate_alias", _csv("user_id,course_id,G3,FinalGrade\ns1,c,10,11\n"), 422, "invalid_header"),
    Hostile(
        "duplicate_dropped_header",
        _csv("user_id,course_id,Name,Name,age\ndupdrop-1,c,Ana,Lima,20\n"),
        202,
        why="two dropped columns of one name: both dropped",
        ids=("dupdrop-1",),
    ),
    Hostile(
        "formula_ids",
        _csv("user_id,course_id,notes,absences\n" + _quoted(FORMULA_IDS).replace(",c\n", ',c,"=HYPERLINK(""x"")",0\n')),
        202,
        why="formula-looking ids are opaque text; report CSVs neutralise them",
        ids=FORMULA_IDS,
    ),
    Hostile(
        "nothing_usable",
        _csv("user_id,course_id,Attendance,Quiz Score\nnu-1,c,95,80\n"),
        422,
        "nothing_usable",
        "no column but the ids matches the catalog: refused, with the closest catalog names",
    ),
    Hostile(
        "label_in_student_data",
        _csv("user_id,course_id,age,FinalGrade\nlabel-1,c,17,14\n"),
        202,
        why="a final grade in student data is not stored (final grades come only through their route)",
        ids=("label-1",),
    ),
    Hostile("formula_number", _csv("user_id,course_id,age\ns1,c,=1+16\n"), 422, "invalid_values"),
    Hostile(
        "sql_ids",
        _csv("user_id,course_id\n" + _quoted(SQL_IDS)),
        202,
        why="SQL-looking ids are data (bound parameters and COPY), never SQL",
        ids=SQL_IDS,
    ),
    Hostile(
        "copy_escape_ids",
        _csv("user_id,course_id\n" + _quoted(COPY_IDS)),
        202,
        why="PostgreSQL COPY's end-of-data marker, NULL marker and escapes inside ids",
        ids=COPY_IDS,
    ),
    Hostile("number_1e309", _csv("user_id,course_id,AttendanceRate\ns1,c,1e309\n"), 422, "invalid_values"),
    Hostile("number_nan", _csv("user_id,course_id,AttendanceRate\ns1,c,NaN\n"), 422, "invalid_values"),
    Hostile("number_inf", _csv("user_id,course_id,AttendanceRate\ns1,c,inf\n"), 422, "invalid_values"),
    Hostile("number_minus_inf", _csv("user_id,course_id,G1\ns1,c,-Infinity\n"), 422, "invalid_values"),
    Hostile(
        "number_past_int64", _csv("user_id,course_id,lms_logins\ns1,c,99999999999999999999999\n"), 422, "invalid_values"
    ),
    Hostile("boolean_nan", _csv("user_id,course_id,internet\ns1,c,NaN\n"), 422, "invalid_values"),
    Hostile(
        "nan_in_dropped_column",
        _csv("user_id,course_id,comment,absences\nnandrop-1,c,NaN,0\n"),
        202,
        why="dropped columns are not read",
        ids=("nandrop-1",),
    ),
    Hostile(
        "dates_mixed_offsets",
        _csv("user_id,course_id,as_of_date\ndates-1,c,2026-01-05\ndates-2,c,2026-01-05T10:00:00+05:00\n"),
        202,
        why="a date with and one without a time and offset",
        ids=("dates-1", "dates-2"),
    ),
    Hostile("date_word", _csv("user_id,course_id,as_of_date\ns1,c,now\n"), 422, "invalid_values"),
    Hostile("more_fields_than_header", _csv("user_id,course_id\ns1,c\ns2,c,extra\n"), 400, "malformed_csv"),
    Hostile("unterminated_quote", _csv('user_id,course_id\n"s1,c\ns2,c\n'), 400, "malformed_csv"),
    Hostile("email_id", _csv("user_id,course_id\nana@example.org,c\n"), 422, "invalid_values"),
    Hostile("phone_id", _csv("user_id,course_id\n+351 912 345 678,c\n"), 422, "invalid_values"),
    Hostile(
        "bidi_and_emoji_ids",
        _csv("user_id,course_id\n\u202ebidi-1,c\n😀-1,c\n"),
        202,
        why="odd but valid text",
        ids=("\u202ebidi-1", "😀-1"),
    ),
    Hostile(
        "control_char_id",
        _csv('user_id,course_id\nctl\x01-1,c\n"qn\n2",c\n"tab\there",c\n'),
        422,
        "invalid_values",
        "an id with a control character could be stored but never opened",
    ),
    Hostile(
        "slash_ids",
        _csv("user_id,course_id\ns1,bio/101\n"),
        422,
        "invalid_values",
        "a course id is a segment of the API's paths (/courses/{course_id})",
    ),
    Hostile("json_body", _csv('{"user_id": "s1", "course_id": "c"}\n'), 422, "no_rows", "JSON is not a CSV table"),
    # --- API only: file names, content types, form fields --------------------------------------------------
    Hostile(
        "path_traversal_name",
        _csv("user_id,course_id\ntraversal-1,c\n"),
        202,
        why="the client's file name is never a path",
        ids=("traversal-1",),
        filename="../../../../tmp/passcompass_evil.csv",
        api_only=True,
    ),
    Hostile(
        "windows_traversal_name",
        _csv("user_id,course_id\ntraversal-2,c\n"),
        202,
        ids=("traversal-2",),
        filename="..\\..\\..\\windows\\evil.csv",
        api_only=True,
    ),
    Hostile(
        "traversal_course_form",
        _csv("user_id\ntraversal-3\n"),
        422,
        "invalid_values",
        "a course id is an id, never a path: no slash",
        form={"course_id": "../../etc/passwd"},
        api_only=True,
    ),
    Hostile(
        "email_course_form",
        _csv("user_id\ns1\n"),
        422,
        "invalid_values",
        "the e-mail guard covers the form fields too",
        form={"course_id": "someone@example.org"},
        api_only=True,
    ),
    Hostile(
        "phone_period_form",
        _csv("user_id\ns1\n"),
        422,
        "invalid_values",
        "the phone guard covers the form fields too",
        form={"course_id": "c", "period_id": "+44 20 7946 0958"},
        api_only=True,
    ),
    Hostile(
        "undeclared_period_form",
        _csv("user_id,course_id\nperiod-1,c\n"),
        422,
        "undeclared_period",
        "a period that is not declared (a typo) never creates a term",
        form={"period_id": "2026-autum"},
        api_only=True,
    ),
    Hostile(
        "nul_in_course_form",
        _csv("user_id\ns1\n"),
        422,
        "invalid_values",
        "a NUL in a form field (PostgreSQL cannot store it)",
        form={"course_id": "c\x00d"},
        api_only=True,
    ),
    Hostile(
        "declared_pdf",
        _csv("user_id,course_id\ns1,c\n"),
        415,
        "not_a_csv",
        "a declared non-CSV content type",
        content_type="application/pdf",
        api_only=True,
    ),
    Hostile(
        "course_form_too_long",
        _csv("user_id\ns1\n"),
        422,
        "invalid_request",
        form={"course_id": "c" * 129},
        api_only=True,
    ),
    # --- big: generated at test time -------------------------------------------------------------------------
    Hostile(
        "columns_10000",
        lambda: (
            ",".join(["user_id", "course_id", *(f"x{i}" for i in range(9998))]) + "\n" + "1," * 9999 + "1\n"
        ).encode(),
        422,
        "too_many_columns",
        big=True,
    ),
    Hostile(
        "cell_1mb_dropped",
        lambda: b"user_id,course_id,notes,absences\ncell-1,c," + b"x" * MB + b",0\n",
        202,
        why="a 1 MB cell in a dropped column",
        ids=("cell-1",),
        big=True,
    ),
    Hostile(
        "cell_1mb_id",
        lambda: b"user_id,course_id\n" + b"x" * MB + b",c\n",
        422,
        "invalid_values",
        "a 1 MB id (this once took the e-mail regex over an hour)",
        big=True,
    ),
    Hostile(
        "cell_1mb_quoted_id",
        lambda: b'user_id,course_id\n"' + b"x@" * (MB // 2) + b'",c\n',
        422,
        "invalid_values",
        big=True,
    ),
    Hostile(
        "header_cell_200kb",
        lambda: b'"' + b"h" * 200_000 + b'",user_id,course_id\n1,s,c\n',
        400,
        "malformed_csv",
        "past the csv module's field limit",
        big=True,
    ),
    Hostile(
        "errors_100000",
        lambda: b"user_id,course_id,age\n" + b"".join(b"s%d,c,x\n" % i for i in range(100_000)),
        422,
        "invalid_values",
        "every row wrong: at most 100 problems listed",
        big=True,
    ),
)


def small_cases() -> list[Hostile]:
    return [c for c in CASES if not c.big]


def write_files(folder: Path = FILES) -> None:
    """Write the small cases (and a manifest of their answers) for trying them by hand."""
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    manifest = {}
    for case in small_cases():
        (folder / f"{case.name}.csv").write_bytes(case.content)
        manifest[case.name] = {"status": case.status, "error": case.error, "why": case.why, "form": case.form}
        if case.api_only:
            manifest[case.name] |= {"filename": case.filename, "content_type": case.content_type}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_files(Path(sys.argv[1]) if len(sys.argv) > 1 else FILES)
    print(f"{len(small_cases())} files written to {FILES}")
