"""A learning platform's activity export, read as events: who, in which course, on which day, what kind of
activity, how many, and a key that says which event it is. One reader per format, each in chunks.

What the exports also carry (URLs, IP addresses, user agents, names, e-mail addresses) is read at most to classify
an event and then dropped: only the columns named here leave a reader, and no reader logs a row. Problems name the
row and the column, never the value.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

import numpy as np
import pandas as pd

from passcompass_assets.core.activity import FORMATS
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.ingest.problems import FileProblems
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH

# What an event was, as the features count it; anything else is "other".
KINDS = ("content", "quiz", "assignment", "forum", "other")
CHUNK_ROWS = 100_000
EVENT_COLUMNS = ["row", "event_key", "user_id", "course_id", "period_id", "day", "kind", "events"]
MAX_COUNT = 100_000  # one row of a generic export counts at most this many events: more is a unit mistake
_HASH_KEY = "passcompass-acti"  # 16 bytes: the event keys stay the same from one run (and version) to the next


@dataclass
class EventChunk:
    """Events read from one chunk of a file (``EVENT_COLUMNS``; ``period_id`` is None where the format does not
    say the term), and rows read but not events of a student in a course (by reason)."""

    events: pd.DataFrame
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ReadContext:
    """What a reader needs besides the file: the institution's time zone (an event counts on its local date), and
    the declared periods' first days (OULAD counts days from its presentation's start)."""

    timezone: str = "UTC"
    period_starts: dict[str, date] = field(default_factory=dict)


Reader = Callable[[IO[bytes], ReadContext, FileProblems, IO[bytes] | None], Iterator[EventChunk]]


def read_events(
    fmt: str, source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None = None
) -> Iterator[EventChunk]:
    """The file's events chunk by chunk; what is wrong with its rows goes to ``problems`` (the caller decides,
    having read it all, whether anything is stored). ``companion``: OULAD's ``vle.csv``."""
    if fmt not in READERS:
        raise Rejected(422, "unknown_format", f"format must be one of: {', '.join(FORMATS)}")
    return READERS[fmt](source, context, problems, companion)


# --- shared steps ------------------------------------------------------------------------------------------------


def event_keys(fmt: str, *parts: pd.Series) -> np.ndarray:
    """A 64-bit key per event: a hash of the format and the event's id (or of its content where it has none)."""
    joined = pd.Series(fmt, index=parts[0].index, dtype=object)
    for part in parts:
        joined = joined + "\x1f" + part.astype(str)
    hashed = pd.util.hash_pandas_object(joined, index=False, hash_key=_HASH_KEY).to_numpy()
    return hashed.view(np.int64)


def local_days(instants: pd.Series, timezone: str) -> pd.Series:
    """UTC instants (NaT kept) as the institution's local dates, at midnight."""
    return instants.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def parse_instants(text: pd.Series, timezone: str) -> pd.Series:
    """ISO 8601 dates and times as UTC instants; one without an offset is local time; NaT where unreadable."""
    text = text.fillna("").str.strip()
    aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], utc=True, errors="coerce", format="ISO8601")
    naive = ~aware & (text != "")
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
        out[naive] = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return out


def _csv_chunks(source: IO[bytes], required: list[str], optional: list[str]) -> Iterator[tuple[pd.DataFrame, int]]:
    """The file's wanted columns as text, ``CHUNK_ROWS`` rows at a time, with each chunk's first spreadsheet row.
    A missing required column refuses the file at once."""
    header = _header(source)
    missing = [name for name in required if name not in header]
    if missing:
        raise Rejected(422, "missing_columns", f"required column(s) missing: {', '.join(missing)}",
                       [Problem(f"required column {name} is missing", 1, name) for name in missing])  # fmt: skip
    wanted = [name for name in (*required, *optional) if name in header]
    try:
        reader = pd.read_csv(
            source, dtype=str, usecols=wanted, chunksize=CHUNK_ROWS, keep_default_na=False, encoding="utf-8-sig"
        )
        first_row = 2
        for chunk in reader:
            chunk = chunk.where(chunk != "", None)
            yield chunk, first_row
            first_row += len(chunk)
    except UnicodeDecodeError as exc:
        raise Rejected(400, "not_utf8", "the file is not UTF-8 text") from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise Rejected(400, "malformed_csv", "the file is not a well-formed CSV (a row has more fields than the "
                       "header, or a quote is not closed)") from exc  # fmt: skip


def _header(source: IO[bytes]) -> list[str]:
    position = source.tell()
    line = source.readline(1024 * 1024)
    source.seek(position)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Rejected(400, "not_utf8", "the file is not UTF-8 text") from exc
    if not text.strip():
        raise Rejected(400, "empty_file", "the file is empty: a header row is needed")
    return [name.strip() for name in next(csv.reader([text]))]


def _kind_from(text: pd.Series, patterns: list[tuple[str, str]]) -> pd.Series:
    """The first kind whose regular expression matches ``text`` (case-insensitive), else ``other``."""
    kind = pd.Series("other", index=text.index, dtype=object)
    decided = pd.Series(False, index=text.index)
    text = text.fillna("").str.lower()
    for pattern, name in patterns:
        hit = ~decided & text.str.contains(pattern, regex=True)
        kind[hit] = name
        decided |= hit
    return kind


# --- Moodle: logstore_standard_log --------------------------------------------------------------------------------

_MOODLE_KINDS = [
    (r"^mod_quiz$|^mod_lesson$|^mod_h5pactivity$", "quiz"),
    (r"^mod_assign$|^mod_workshop$", "assignment"),
    (r"^mod_forum$|^mod_chat$|^mod_wiki$", "forum"),
    (r"^mod_(?:resource|page|url|book|folder|label|scorm|lti)$|^core$", "content"),
]
_MOODLE_PARTICIPATING = "2"  # edulevel: \core\event\base::LEVEL_PARTICIPATING


def _read_moodle(
    source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None
) -> Iterator[EventChunk]:
    """Rows of Moodle's ``logstore_standard_log``: only a student's participating events (``edulevel`` 2) in a
    course count; ``userid`` and ``courseid`` are Moodle's ids, ``timecreated`` Unix seconds."""
    required = ["id", "component", "edulevel", "userid", "courseid", "timecreated"]
    for chunk, first_row in _csv_chunks(source, required, []):
        skipped: Counter[str] = Counter()
        seconds = pd.to_numeric(chunk["timecreated"], errors="coerce")
        bad_time = seconds.isna() & chunk["timecreated"].notna()
        problems.add_where(bad_time.to_numpy(), "timecreated", "timecreated is not a Unix time in seconds",
                           first_row=first_row)  # fmt: skip
        good = problems.check_ids(chunk, ["id", "userid", "courseid"], MAX_ID_LENGTH, first_row=first_row)
        good &= ~bad_time & seconds.notna()
        participating = chunk["edulevel"].fillna("").str.strip() == _MOODLE_PARTICIPATING
        in_course = ~chunk["userid"].isin(["0", "1"]) & ~chunk["courseid"].isin(["0", "1"])  # guest, site
        skipped["not_participating"] = int((good & ~participating).sum())
        skipped["site_or_guest"] = int((good & participating & ~in_course).sum())
        keep = good & participating & in_course
        frame = chunk[keep]
        instants = pd.to_datetime(seconds[keep], unit="s", utc=True)
        events = pd.DataFrame(
            {
                "event_key": event_keys("moodle", frame["id"]),
                "user_id": frame["userid"],
                "course_id": frame["courseid"],
                "day": local_days(instants, context.timezone),
                "kind": _kind_from(frame["component"], _MOODLE_KINDS),
                "events": 1,
            },
            index=frame.index,
        )
        yield _finish(events, chunk, first_row, skipped)


def _finish(events: pd.DataFrame, chunk: pd.DataFrame, first_row: int, skipped: Counter[str]) -> EventChunk:
    """The chunk's events, numbered by the spreadsheet rows they came from."""
    events = events.assign(row=events.index.to_numpy() - chunk.index[0] + first_row)
    if "period_id" not in events:
        events["period_id"] = None
    return EventChunk(events[EVENT_COLUMNS].reset_index(drop=True), rows=len(chunk), skipped=+skipped)


# --- Canvas Data 2: canvas_logs.web_logs -------------------------------------------------------------------------

_CANVAS_KINDS = [
    (r"/quizzes|/quiz_submissions|/assessments", "quiz"),
    (r"/assignments|/submissions", "assignment"),
    (r"/discussion_topics|/discussion_entries|/announcements|/conversations", "forum"),
    (r"/pages|/files|/modules|/wiki|/media_objects|/external_tools", "content"),
]


def _read_canvas(
    source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None
) -> Iterator[EventChunk]:
    """Canvas Data 2's ``web_logs`` rows: a request in a course by a student as themself (a masquerading request,
    where ``real_user_id`` differs, is someone else's); the URL's path decides the kind and is then dropped."""
    required = ["id", "timestamp", "user_id", "course_id", "url"]
    for chunk, first_row in _csv_chunks(source, required, ["real_user_id"]):
        skipped: Counter[str] = Counter()
        instants = parse_instants(chunk["timestamp"], context.timezone)
        bad_time = instants.isna()
        anonymous = chunk["user_id"].isna()
        outside = chunk["course_id"].isna()
        real = chunk["real_user_id"] if "real_user_id" in chunk else pd.Series(None, index=chunk.index)
        masquerading = real.notna() & (real != chunk["user_id"])
        eligible = ~anonymous & ~outside & ~masquerading
        ids = problems.check_ids(
            chunk, ["id", "user_id", "course_id"], MAX_ID_LENGTH, first_row=first_row, among=eligible
        )
        problems.add_where((eligible & bad_time).to_numpy(), "timestamp", "timestamp is not an ISO 8601 date and time",
                           first_row=first_row)  # fmt: skip
        good = eligible & ids & ~bad_time
        skipped["not_logged_in"] = int(anonymous.sum())
        skipped["not_in_a_course"] = int((~anonymous & outside).sum())
        skipped["masquerading"] = int((~anonymous & ~outside & masquerading).sum())
        frame = chunk[good]
        events = pd.DataFrame(
            {
                "event_key": event_keys("canvas", frame["id"]),
                "user_id": frame["user_id"],
                "course_id": frame["course_id"],
                "day": local_days(instants[good], context.timezone),
                "kind": _kind_from(frame["url"], _CANVAS_KINDS),
                "events": 1,
            },
            index=frame.index,
        )
        yield _finish(events, chunk, first_row, skipped)


# --- xAPI statements ----------------------------------------------------------------------------------------------

_XAPI_KINDS = [  # the last segment of the object's activity type (ADL's and the Tin Can registry's names)
    (r"/(?:assessment|question|interaction|quiz)$", "quiz"),
    (r"/(?:assignment|submission)$", "assignment"),
    (r"/(?:discussion|forum|comment|chat-channel)$", "forum"),
    (r"/(?:lesson|module|media|file|link|page|video|document|book|slide|course)$", "content"),
]
_VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_ANONYMOUS_IFIS = ("mbox", "mbox_sha1sum", "openid")


def _read_xapi(
    source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None
) -> Iterator[EventChunk]:
    """xAPI statements, one JSON object per line or a JSON array: the student is ``actor.account.name`` (an actor
    known only by an e-mail address or OpenID is refused: it would identify a person), the course the last part
    of the id of ``context.contextActivities.grouping`` (a course-typed one first) or ``parent``. Rows are the
    statements' positions (lines, for JSON lines)."""
    statements = _statements(source, problems)
    while True:
        batch = [s for _, s in zip(range(CHUNK_ROWS), statements, strict=False)]
        if not batch:
            return
        rows, fields, skipped = [], [], Counter[str]()
        for row, statement in batch:
            found = _statement_fields(row, statement, problems)
            if found == "voided":
                skipped["voiding_statement"] += 1
            elif found is not None:
                rows.append(row)
                fields.append(found)
        frame = pd.DataFrame(fields, index=rows, columns=["id", "user_id", "course_id", "timestamp", "type"])
        instants = parse_instants(frame["timestamp"].astype(object), context.timezone)
        bad_time = instants.isna()
        for row in frame.index[bad_time]:
            problems.add_where(np.array([True]), "timestamp", "timestamp is not an ISO 8601 date and time",
                               first_row=int(row))  # fmt: skip
        frame, instants = frame[~bad_time], instants[~bad_time]
        content = [frame[c].fillna("") for c in ("user_id", "course_id", "timestamp", "type")]
        by_id, by_content = event_keys("xapi", frame["id"].fillna("")), event_keys("xapi-content", *content)
        keys = np.where(frame["id"].notna(), by_id, by_content)
        events = pd.DataFrame(
            {
                "row": frame.index.to_numpy(),
                "event_key": keys.astype(np.int64),
                "user_id": frame["user_id"],
                "course_id": frame["course_id"],
                "period_id": None,
                "day": local_days(instants, context.timezone),
                "kind": _kind_from(frame["type"], _XAPI_KINDS),
                "events": 1,
            }
        )
        yield EventChunk(events[EVENT_COLUMNS].reset_index(drop=True), rows=len(batch), skipped=+skipped)


def _statements(source: IO[bytes], problems: FileProblems) -> Iterator[tuple[int, Any]]:
    """(row, statement): a JSON array is read whole; JSON lines one line at a time."""
    position = source.tell()
    array = source.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
    source.seek(position)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict")
    try:
        if array:
            try:
                yield from enumerate(json.load(text), start=1)
            except json.JSONDecodeError as exc:
                raise Rejected(400, "malformed_json", "the file is not a JSON array of statements") from exc
            return
        for number, line in enumerate(text, start=1):
            yield from _statement_line(number, line, problems)
    except UnicodeDecodeError as exc:
        raise Rejected(400, "not_utf8", "the file is not UTF-8 text") from exc
    finally:
        text.detach()


def _statement_line(number: int, line: str, problems: FileProblems) -> Iterator[tuple[int, Any]]:
    if not line.strip():
        return
    try:
        yield number, json.loads(line)
    except json.JSONDecodeError:
        problems.add_where(np.array([True]), None, "not a JSON statement", first_row=number)


def _statement_fields(row: int, statement: Any, problems: FileProblems) -> list[str | None] | str | None:
    """[id, user, course, timestamp, object type] of a statement, ``"voided"`` for a voiding statement, None (with
    its problems) for one that cannot count."""

    def problem(column: str | None, message: str) -> None:
        problems.add_where(np.array([True]), column, message, first_row=row)

    if not isinstance(statement, dict):
        problem(None, "a statement must be a JSON object")
        return None
    verb = _object(statement.get("verb"))
    if verb.get("id") == _VOIDED:
        return "voided"
    actor = _object(statement.get("actor"))
    account = _object(actor.get("account"))
    name = account.get("name")
    user = name.strip() if isinstance(name, str) else ""
    ok = True
    if not user:
        if any(actor.get(ifi) for ifi in _ANONYMOUS_IFIS):
            problem("actor", "the actor is identified by an e-mail address or OpenID only: send actor.account.name")
        else:
            problem("actor.account.name", "actor.account.name is missing")
        ok = False
    elif len(user) > MAX_ID_LENGTH:
        problem("actor.account.name", f"actor.account.name is longer than {MAX_ID_LENGTH} characters")
        ok = False
    course = _course_of(statement)
    if course is None:
        problem("context.contextActivities", "no course: context.contextActivities has no grouping or parent id")
        ok = False
    elif len(course) > MAX_ID_LENGTH:
        problem("context.contextActivities", f"the course id is longer than {MAX_ID_LENGTH} characters")
        ok = False
    timestamp = statement.get("timestamp") or statement.get("stored")
    if not isinstance(timestamp, str):
        problem("timestamp", "timestamp is missing")
        ok = False
    if not ok:
        return None
    definition = _object(_object(statement.get("object")).get("definition"))
    kind = definition.get("type")
    identifier = statement.get("id")
    return [
        identifier if isinstance(identifier, str) and identifier else None,
        user,
        course,
        timestamp,
        kind if isinstance(kind, str) else None,
    ]


def _course_of(statement: dict[str, Any]) -> str | None:
    activities = _object(_object(statement.get("context")).get("contextActivities"))

    def listed(name: str) -> list[dict[str, Any]]:
        found = activities.get(name)
        found = [found] if isinstance(found, dict) else found if isinstance(found, list) else []
        return [a for a in found if isinstance(a, dict) and isinstance(a.get("id"), str) and a["id"].strip()]

    grouping, parent = listed("grouping"), listed("parent")
    courses = [a for a in grouping if str(_object(a.get("definition")).get("type", "")).endswith("/course")]
    chosen = courses or grouping or parent
    return _last_segment(chosen[0]["id"]) if chosen else None


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: a statement's parts may be anything."""
    return value if isinstance(value, dict) else {}


def _last_segment(iri: str) -> str:
    """``https://lms.example.edu/courses/BIO101`` -> ``BIO101``; an id that is not a path stays as it is."""
    path = iri.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1] if "/" in path else path


# --- OULAD: studentVle.csv with vle.csv ----------------------------------------------------------------------------

_OULAD_KINDS = [
    (r"^quiz$|^questionnaire$|^externalquiz$|^repeatactivity$|^dualpane$", "quiz"),
    (r"^forumng$|^ouwiki$|^oucollaborate$|^ouelluminate$|^sharedsubpage$", "forum"),
    (r"^oucontent$|^resource$|^url$|^page$|^subpage$|^homepage$|^glossary$|^htmlactivity$|^dataplus$", "content"),
]


def _read_oulad(
    source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None
) -> Iterator[EventChunk]:
    """OULAD's ``studentVle.csv`` (clicks per student, site and day; ``date`` counts days from the presentation's
    start, which must be a declared period), with ``vle.csv`` (each site's ``activity_type``) as the companion
    file. ``code_module`` is the course, ``code_presentation`` its period. Rows have no id of their own: the
    event key is their content."""
    if companion is None:
        raise Rejected(422, "missing_file", "the OULAD format needs vle.csv too (the form field vle)")
    sites = _oulad_sites(companion)
    required = ["code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"]
    for chunk, first_row in _csv_chunks(source, required, []):
        names = ["id_student", "code_module", "code_presentation"]
        good = problems.check_ids(chunk, names, MAX_ID_LENGTH, first_row=first_row)
        offset = pd.to_numeric(chunk["date"], errors="coerce")
        clicks = pd.to_numeric(chunk["sum_click"], errors="coerce")
        bad_date = offset.isna() | (offset.round() != offset)
        bad_clicks = clicks.isna() | (clicks < 1) | (clicks > MAX_COUNT) | (clicks.round() != clicks)
        problems.add_where(bad_date.to_numpy(), "date", "date is not a whole number of days", first_row=first_row)
        problems.add_where(bad_clicks.to_numpy(), "sum_click", f"sum_click is not a whole number from 1 to {MAX_COUNT}",
                           first_row=first_row)  # fmt: skip
        starts = chunk["code_presentation"].map(context.period_starts)
        undeclared = good & starts.isna()
        problems.add_where(undeclared.to_numpy(), "code_presentation",
                           "code_presentation is not a declared period (declare it with its dates first)",
                           first_row=first_row)  # fmt: skip
        keep = good & ~bad_date & ~bad_clicks & ~undeclared
        frame = chunk[keep]
        days = pd.to_datetime(starts[keep]) + pd.to_timedelta(offset[keep], unit="D")
        content = [frame[c] for c in ("id_student", "code_module", "code_presentation", "id_site", "date", "sum_click")]
        events = pd.DataFrame(
            {
                "event_key": event_keys("oulad", *content),
                "user_id": frame["id_student"],
                "course_id": frame["code_module"],
                "period_id": frame["code_presentation"],
                "day": days,
                "kind": _kind_from(frame["id_site"].map(sites), _OULAD_KINDS),
                "events": clicks[keep].astype(np.int64),
            },
            index=frame.index,
        )
        yield _finish(events, chunk, first_row, Counter())


def _oulad_sites(companion: IO[bytes]) -> dict[str, str]:
    header = _header(companion)
    if not {"id_site", "activity_type"} <= set(header):
        raise Rejected(422, "missing_columns", "vle.csv needs the columns id_site and activity_type")
    try:
        frame = pd.read_csv(companion, dtype=str, usecols=["id_site", "activity_type"], keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise Rejected(400, "malformed_csv", "vle.csv is not a well-formed UTF-8 CSV") from exc
    return dict(zip(frame["id_site"].str.strip(), frame["activity_type"].str.strip(), strict=True))


# --- generic: user_id, course_id, timestamp, event_type[, count] --------------------------------------------------


def _read_generic(
    source: IO[bytes], context: ReadContext, problems: FileProblems, companion: IO[bytes] | None
) -> Iterator[EventChunk]:
    """Any platform's log, one row per event (or per ``count`` events): ``timestamp`` in ISO 8601 (without an
    offset: the institution's local time; a date alone: that day), ``event_type`` one of :data:`KINDS` (anything
    else counts as ``other``). Rows have no id of their own: the event key is their content."""
    for chunk, first_row in _csv_chunks(source, ["user_id", "course_id", "timestamp", "event_type"], ["count"]):
        good = problems.check_ids(chunk, ["user_id", "course_id"], MAX_ID_LENGTH, first_row=first_row)
        instants = parse_instants(chunk["timestamp"], context.timezone)
        bad_time = instants.isna()
        problems.add_where(bad_time.to_numpy(), "timestamp", "timestamp is not an ISO 8601 date or date and time",
                           first_row=first_row)  # fmt: skip
        given = chunk["count"] if "count" in chunk else pd.Series(None, index=chunk.index, dtype=object)
        count = pd.to_numeric(given.fillna("1"), errors="coerce")
        bad_count = count.isna() | (count < 1) | (count > MAX_COUNT) | (count.round() != count)
        problems.add_where(bad_count.to_numpy(), "count", f"count is not a whole number from 1 to {MAX_COUNT}",
                           first_row=first_row)  # fmt: skip
        keep = good & ~bad_time & ~bad_count
        frame = chunk[keep]
        kind = frame["event_type"].fillna("").str.strip().str.lower()
        content = [frame[c].fillna("") for c in ("user_id", "course_id", "timestamp", "event_type")]
        events = pd.DataFrame(
            {
                "event_key": event_keys("generic", *content, given[keep].fillna("")),
                "user_id": frame["user_id"],
                "course_id": frame["course_id"],
                "day": local_days(instants[keep], context.timezone),
                "kind": kind.where(kind.isin(KINDS), "other"),
                "events": count[keep].astype(np.int64),
            },
            index=frame.index,
        )
        yield _finish(events, chunk, first_row, Counter())


READERS: dict[str, Reader] = {
    "moodle": _read_moodle,
    "canvas": _read_canvas,
    "xapi": _read_xapi,
    "oulad": _read_oulad,
    "generic": _read_generic,
}
