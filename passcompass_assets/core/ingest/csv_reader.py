"""Read the bytes of an uploaded CSV into columns of strings, coping with what real exports look like.

Copes with UTF-8 with or without BOM, UTF-16 with BOM, Latin-1, ``,`` ``;`` and tab delimiters, quoted values,
surrounding blanks and Windows line ends. Anything it cannot read is an :class:`Rejected` (400 or 415).

Well-formed files are parsed by Arrow's CSV reader (multithreaded, no Python object per cell: a million rows x 30
columns in about a second, in a fifth of the memory of a frame of Python strings). A file Arrow refuses (a row
with more or fewer fields than the header, stray quotes) is read again by pandas, whose answers are the contract's:
its error names the line, and a short row is padded with empty values.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from passcompass_assets.core.errors import Problem, Rejected

DELIMITERS = (",", ";", "\t")
MAX_COLUMNS = 1000
# Arrow parses blocks in parallel; 16 MB blocks keep both cores busy with few, large chunks.
BLOCK_SIZE = 16 * 1024 * 1024


@dataclass
class RawTable:
    header: list[str]
    columns: list[pa.ChunkedArray | None]  # the values under header[i] as read ("" where empty)
    rows: int
    warnings: list[str] = field(default_factory=list)
    delimiter: str = ","

    def column(self, position: int) -> pa.ChunkedArray:
        """The values of one column, stripped of blanks and of quotes the parser left (``"11" ;``)."""
        values = self.columns[position]
        if values is None:
            raise ValueError(f"column {position} was released")
        return _clean_column(values)

    def release(self, position: int) -> None:
        """Forget a column once it is used: a million-row file then never holds all raw and typed columns at once."""
        self.columns[position] = None

    @property
    def frame(self) -> pd.DataFrame:
        """All columns, cleaned, as a frame of strings (for callers that want pandas)."""
        return pd.DataFrame({f"c{i}": self.column(i).to_pandas() for i in range(len(self.columns))})


# Files people send instead of a CSV, recognised by their first bytes.
NOT_CSV_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or Excel workbook (.xlsx): export the sheet as CSV",
    b"\xd0\xcf\x11\xe0": "a legacy Office document (.xls): export the sheet as CSV",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}


def _decode(content: bytes) -> tuple[bytes, list[str]]:
    """The file as UTF-8 bytes (the original bytes when they already are), without a BOM."""
    for signature, what in NOT_CSV_SIGNATURES.items():
        if content.startswith(signature):
            raise Rejected(415, "not_a_csv", f"the file is {what}, not a CSV")
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = content.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise Rejected(400, "unreadable_csv", "invalid UTF-16 text: a character is cut short or broken") from exc
        if "\x00" in text:  # the parser would silently cut the value at it (and PostgreSQL cannot store it)
            raise Rejected(415, "not_a_csv", "the file contains NUL characters; expected a text CSV")
        return text.encode("utf-8"), ["decoded as UTF-16"]
    if b"\x00" in content:
        raise Rejected(415, "not_a_csv", "the file contains binary data (NUL bytes); expected a text CSV")
    try:
        content.decode("utf-8")  # only checked: the bytes themselves are parsed
    except UnicodeDecodeError:
        # Spreadsheet exports on Windows are often Latin-1 / cp1252; every byte decodes, so control bytes
        # (a binary file) are caught below.
        text = content.decode("cp1252", errors="replace")
        if re.search(r"[\x00-\x08\x0e-\x1f]", text):
            raise Rejected(415, "not_a_csv", "the file is not text; expected a CSV") from None
        return text.encode("utf-8"), ["not valid UTF-8: decoded as Windows-1252 (Latin-1)"]
    return content.removeprefix(codecs.BOM_UTF8), []


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most fields (quotes respected)."""
    fields = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: fields[d])


def _unquote(value: str) -> str:
    value = value.strip()
    return value[1:-1].strip() if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _clean_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strip blanks; a quoted value followed by blanks (``"11" ;``) reaches here still quoted."""
    column = pc.utf8_trim_whitespace(column)
    if pc.any(pc.starts_with(column, '"')).as_py():
        column = pc.utf8_trim_whitespace(pc.replace_substring_regex(column, r'^"(.*)"$', r"\1"))
    return column


def _parser_problem(message: str) -> Problem:
    """The parser's error in our words (its own text, "Error tokenizing data. C error: ...", means nothing to a
    data officer): the row, and what is wrong there."""
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, row, saw = (int(g) for g in fields.groups())
        return Problem(f"row {row} has {saw} fields but the header has {expected}; quote values holding the "
                       "delimiter", row)  # fmt: skip
    line = re.search(r"line (\d+)", message)
    at = int(line.group(1)) if line else None
    if "EOF" in message or "quot" in message.lower():
        return Problem('a quoted value is never closed: a " opens a value that runs to the end of the file', at)
    return Problem("the row cannot be split into fields (stray quotes or delimiters)", at)


def _header_line(data: bytes) -> str:
    """The first line (up to the first CR or LF), decoded."""
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return data[: min(ends)].decode("utf-8") if ends else data.decode("utf-8")


def _read_with_arrow(body: memoryview, delimiter: str, width: int) -> pa.Table | None:
    """The rows after the header, or None when Arrow refuses the file (pandas then reads it)."""
    names = [f"c{i}" for i in range(width)]
    try:
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None


def _read_with_pandas(data: bytes, delimiter: str) -> pa.Table:
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            dtype=str,
            header=None,  # the header was read apart; a row with more fields than it is an error
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
            skipinitialspace=True,
            on_bad_lines="error",
            encoding="utf-8",
        )
    except pd.errors.ParserError as exc:
        problem = _parser_problem(str(exc))
        raise Rejected(400, "malformed_csv", f"the CSV is malformed: {problem}", [problem]) from None
    except (ValueError, csv.Error):
        problem = Problem("the file cannot be split into rows and fields")
        raise Rejected(400, "malformed_csv", f"the CSV is malformed: {problem.message}", [problem]) from None
    frame = frame.iloc[1:].fillna("")
    return pa.table({f"c{i}": pa.array(frame[column].astype(str), pa.string()) for i, column in enumerate(frame)})


def read_csv_bytes(content: bytes) -> RawTable:
    """Decode and parse; every value comes back as a string (``RawTable.column`` strips it)."""
    if not content or content.isspace():  # (not ``strip()``: that copies the whole file)
        raise Rejected(400, "empty_file", "the file is empty")
    data, warnings = _decode(content)
    header_line = _header_line(data)
    if not header_line.strip():
        raise Rejected(400, "malformed_csv", "the first line (the header) is empty", [Problem("empty header", 1)])
    try:
        delimiter = _sniff_delimiter(header_line)
        header = [_unquote(h) for h in next(csv.reader([header_line], delimiter=delimiter, skipinitialspace=True))]
    except csv.Error:  # e.g. a header cell past the csv module's field limit (128 KB)
        problem = Problem("the header cannot be split into column names (a name too long, or stray quotes)", 1)
        raise Rejected(400, "malformed_csv", f"the header is malformed: {problem.message}", [problem]) from None
    if len(header) > MAX_COLUMNS:
        raise Rejected(
            422, "too_many_columns", f"the header has {len(header)} columns; at most {MAX_COLUMNS} are accepted"
        )
    table = _read_with_arrow(memoryview(data), delimiter, len(header))
    if table is None:
        table = _read_with_pandas(data, delimiter)
    return RawTable(header=header, columns=table.columns, rows=table.num_rows, warnings=warnings, delimiter=delimiter)
