"""A OneRoster 1.1 or 1.2 CSV export (a zip), read as terms, classes and student enrolments.

Only what the platform keeps is read: a term's ``sourcedId``, title and dates; a class's ``sourcedId`` (the
``course_id``), title and term; a student enrolment's user ``sourcedId``, class, status and end date; and, from
``demographics.csv``, the columns the catalog keeps for fairness audits. ``users.csv`` (names, usernames, e-mail
addresses, phone numbers, passwords) is never opened: an enrolment names its student by ``sourcedId`` alone.
Problems name the file, the row and the column, never the value.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from passcompass_assets.core.catalog import header_key, load_catalog
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.ingest.problems import FileProblems
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH

TERM_TYPES = ("term", "semester")  # academic sessions that are a period (not a school year or grading period)
DELETED = "tobedeleted"
MAX_ZIP_MEMBER_BYTES = 500 * 1024 * 1024  # a member inflating past this is refused (a zip bomb)
_FILES = {
    "academicSessions": ["sourcedId", "title", "type", "startDate", "endDate"],
    "classes": ["sourcedId", "title", "termSourcedIds"],
    "enrollments": ["sourcedId", "classSourcedId", "userSourcedId", "role"],
}
_OPTIONAL = {
    "academicSessions": ["status"],
    "classes": ["status"],
    "enrollments": ["status", "dateLastModified", "endDate"],
}


@dataclass(frozen=True)
class Term:
    period_id: str
    title: str
    start_date: date
    end_date: date


@dataclass(frozen=True)
class RosterClass:
    course_id: str
    title: str
    period_id: str


@dataclass
class Roster:
    """What the export says: its version and per-file mode (bulk, delta, absent), the terms and classes, and the
    student enrolments (``user_id``, ``course_id``, ``enrolment_status`` active or withdrawn, ``withdrawal_date``),
    with the audit columns ``demographics.csv`` maps to the catalog."""

    version: str
    modes: dict[str, str]
    terms: list[Term]
    classes: list[RosterClass]
    enrolments: pd.DataFrame
    deleted_terms: list[str] = field(default_factory=list)  # terms marked tobedeleted: never deleted here
    warnings: list[str] = field(default_factory=list)


def read_oneroster(content: bytes, *, today: date) -> Roster:
    """The export's terms, classes and student enrolments; :class:`Rejected` naming every problem."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise Rejected(
            400, "not_a_zip", "a OneRoster CSV export is a zip file (manifest.csv and the CSV files)"
        ) from exc
    with archive:
        names = {name.rsplit("/", 1)[-1]: name for name in archive.namelist()}
        manifest = _manifest(archive, names)
        version = manifest.get("oneroster.version", "")
        if version not in ("1.1", "1.2"):
            problem = Problem("oneroster.version must be 1.1 or 1.2", None, "manifest.csv")
            raise Rejected(422, "unsupported_version", "only OneRoster 1.1 and 1.2 CSV exports are read", [problem])
        modes = {name: manifest.get(f"file.{name}", "absent") for name in (*_FILES, "demographics")}
        problems = FileProblems()
        frames = {name: _table(archive, names, name, problems) if modes[name] != "absent" else None for name in _FILES}
        if problems:
            raise problems.rejected()
        terms, deleted = _terms(frames["academicSessions"], problems)
        classes = _classes(frames["classes"], {t.period_id for t in terms}, problems)
        enrolments = _enrolments(frames["enrollments"], {c.course_id: c.period_id for c in classes}, today, problems)
        warnings: list[str] = []
        if modes["demographics"] != "absent" and "demographics.csv" in names:
            enrolments = _with_demographics(archive, names["demographics.csv"], enrolments, warnings)
    if problems:
        raise problems.rejected()
    return Roster(version, modes, terms, classes, enrolments, deleted, warnings)


def _read(archive: zipfile.ZipFile, member: str) -> bytes:
    if archive.getinfo(member).file_size > MAX_ZIP_MEMBER_BYTES:
        raise Rejected(413, "too_large", f"{member} is larger than {MAX_ZIP_MEMBER_BYTES} bytes unpacked")
    return archive.read(member)


def _manifest(archive: zipfile.ZipFile, names: dict[str, str]) -> dict[str, str]:
    if "manifest.csv" not in names:
        raise Rejected(422, "missing_file", "manifest.csv is missing: it says which files the export holds",
                       [Problem("manifest.csv is missing", None, "manifest.csv")])  # fmt: skip
    frame = _csv(_read(archive, names["manifest.csv"]), "manifest.csv")
    if not {"propertyName", "value"} <= set(frame.columns):
        raise Rejected(422, "missing_columns", "manifest.csv needs the columns propertyName and value")
    return {str(k).strip(): str(v).strip() for k, v in zip(frame["propertyName"], frame["value"], strict=True)}


def _csv(content: bytes, name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise Rejected(400, "malformed_csv", f"{name} is not a well-formed UTF-8 CSV") from exc


def _table(archive: zipfile.ZipFile, names: dict[str, str], name: str, problems: FileProblems) -> pd.DataFrame | None:
    """A file the manifest lists, with the columns read here (stripped), or None (and a problem) when absent."""
    file_name = f"{name}.csv"
    if file_name not in names:
        problems.add(Problem(f"the manifest lists {file_name} but the zip does not hold it", None, file_name))
        return None
    frame = _csv(_read(archive, names[file_name]), file_name)
    missing = [c for c in _FILES[name] if c not in frame.columns]
    for column in missing:
        problems.add(Problem(f"{file_name}: required column {column} is missing", 1, f"{file_name}: {column}"))
    if missing:
        return None
    frame = frame[[c for c in (*_FILES[name], *_OPTIONAL[name]) if c in frame.columns]]
    return frame.apply(lambda column: column.str.strip())


def _where(problems: FileProblems, mask: pd.Series, file_name: str, column: str, message: str) -> None:
    problems.add_where(mask.to_numpy(), f"{file_name}: {column}", message)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.where(values != ""), format="%Y-%m-%d", errors="coerce")


def _terms(frame: pd.DataFrame | None, problems: FileProblems) -> tuple[list[Term], list[str]]:
    if frame is None:
        return [], []
    name = "academicSessions.csv"
    term = frame["type"].str.lower().isin(TERM_TYPES)
    deleted = frame.get("status", pd.Series("", index=frame.index)).str.lower() == DELETED
    good = problems.check_ids(frame, ["sourcedId"], MAX_ID_LENGTH, label=f"{name}: ") & term
    start, end = _dates(frame["startDate"]), _dates(frame["endDate"])
    _where(problems, term & start.isna(), name, "startDate", "startDate is not a date (YYYY-MM-DD)")
    _where(problems, term & end.isna(), name, "endDate", "endDate is not a date (YYYY-MM-DD)")
    backwards = term & start.notna() & end.notna() & (end <= start)
    _where(problems, backwards, name, "endDate", "endDate is not after startDate")
    keep = good & start.notna() & end.notna() & ~backwards & ~deleted
    terms = [
        Term(row.sourcedId, row.title, s.date(), e.date())
        for row, s, e in zip(frame[keep].itertuples(), start[keep], end[keep], strict=True)
    ]
    return terms, list(frame.loc[good & deleted, "sourcedId"])


def _classes(frame: pd.DataFrame | None, terms: set[str], problems: FileProblems) -> list[RosterClass]:
    if frame is None:
        return []
    name = "classes.csv"
    live = frame.get("status", pd.Series("", index=frame.index)).str.lower() != DELETED
    good = problems.check_ids(frame, ["sourcedId"], MAX_ID_LENGTH, label=f"{name}: ")
    # A class of several terms (a year-long class) belongs to the first one listed that is a term of the export.
    listed = frame["termSourcedIds"].str.split(",")
    term = listed.map(lambda ids: next((i.strip() for i in ids if i.strip() in terms), None))
    unknown = good & live & term.isna()
    _where(problems, unknown, name, "termSourcedIds", "names no term of academicSessions.csv")
    keep = good & live & term.notna()
    return [
        RosterClass(row.sourcedId, row.title, str(period))
        for row, period in zip(frame[keep].itertuples(), term[keep], strict=True)
    ]


def _enrolments(
    frame: pd.DataFrame | None, class_terms: dict[str, str], today: date, problems: FileProblems
) -> pd.DataFrame:
    columns = ["user_id", "course_id", "period_id", "enrolment_status", "withdrawal_date"]
    if frame is None:
        return pd.DataFrame(columns=columns)
    name = "enrollments.csv"
    students = frame["role"].str.lower() == "student"
    good = problems.check_ids(frame, ["userSourcedId", "classSourcedId"], MAX_ID_LENGTH, label=f"{name}: ") & students
    period = frame["classSourcedId"].map(class_terms)
    unknown = good & period.isna()
    _where(problems, unknown, name, "classSourcedId", "names no class of classes.csv")
    deleted = frame.get("status", pd.Series("", index=frame.index)).str.lower() == DELETED
    ended = _dates(frame.get("endDate", pd.Series("", index=frame.index)))
    bad_end = frame.get("endDate", pd.Series("", index=frame.index)).ne("") & ended.isna()
    _where(problems, bad_end & good, name, "endDate", "endDate is not a date (YYYY-MM-DD)")
    modified = _dates(frame.get("dateLastModified", pd.Series("", index=frame.index)).str.slice(0, 10))
    # Withdrawn: an end date that has come, or the enrolment deleted (from its last change, else today).
    withdrawn_on = ended.where(ended.notna() & (ended <= pd.Timestamp(today)))
    withdrawn_on = withdrawn_on.where(~deleted, modified.fillna(pd.Timestamp(today)))
    keep = good & period.notna() & ~bad_end
    out = pd.DataFrame(
        {
            "user_id": frame.loc[keep, "userSourcedId"],
            "course_id": frame.loc[keep, "classSourcedId"],
            "period_id": period[keep],
            "enrolment_status": np.where(withdrawn_on[keep].notna(), "withdrawn", "active"),
            "withdrawal_date": withdrawn_on[keep].dt.strftime("%Y-%m-%d"),
        }
    )
    return out.drop_duplicates(["user_id", "course_id", "period_id"], keep="last").reset_index(drop=True)[columns]


def _with_demographics(
    archive: zipfile.ZipFile, member: str, enrolments: pd.DataFrame, warnings: list[str]
) -> pd.DataFrame:
    """The enrolments with the demographics columns the catalog keeps for audits (values it does not know left
    empty); the others are ignored, with a warning naming them."""
    catalog = load_catalog()
    audit = {header_key(spelling): c for c in catalog.audit for spelling in (c.name, *c.aliases)}
    frame = _csv(_read(archive, member), "demographics.csv")
    if "sourcedId" not in frame:
        warnings.append("demographics.csv has no sourcedId column: ignored")
        return enrolments
    kept, ignored = {}, []
    for column in frame.columns:
        if column in ("sourcedId", "status", "dateLastModified"):
            continue
        target = audit.get(header_key(column))
        if target is None:
            ignored.append(column)
            continue
        values = frame[column].str.strip()
        if target.type == "category":
            values = values.str.lower().map(target.category_lookup)
        kept[target.name] = values
    if ignored:
        warnings.append(
            f"demographics.csv: {len(ignored)} column(s) not kept for audits were ignored ({', '.join(ignored)})"
        )
    if not kept:
        return enrolments
    by_user = pd.DataFrame(kept).assign(user_id=frame["sourcedId"].str.strip()).drop_duplicates("user_id")
    return enrolments.merge(by_user, on="user_id", how="left")
