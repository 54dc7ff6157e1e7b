"""The stored state of students, as the model, the reports and the checks read it.

The source is the history: every processed snapshot is a dated version (``record_versions``). What was known
about a student "as of D" is, column by column, the value of the latest version dated on or before D whose upload
carried that column (an upload that leaves a column out keeps the earlier value; an empty cell in a column it
has clears it). ``student_records`` is the current state, a convenience for checks and drift.

What the model learns from and what a report scores are built by one function, :func:`rows_as_of`: a training
row is a labelled student of a past period as known on one of its report dates (:func:`training_rows`), a report
row a student of the current period as known on the report's date (:func:`scoring_rows`). Both carry the term
position the model knows (``term_week``: weeks since the period started) and leave out students who had withdrawn
by then, and the engagement known by then from the activity history (``core/activity/engagement.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.activity.engagement import ACTIVITY_KEY, read_activity, with_engagement
from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.catalog import RECORD_KEY, load_catalog
from passcompass_assets.core.db.tables import courses, record_versions, student_records, uploads
from passcompass_assets.core.periods import Period

STATE = ["as_of_date", "enrolment_status", "withdrawal_date"]
# The order versions are applied in: by the day they describe, then by arrival.
VERSION_ORDER = ["valid_from", "source_seq"]
TERM_WEEK = "term_week"  # weeks since the period started, on the row's date (a model input)
REPORT_DATE = "report_date"


def record_columns() -> list[str]:
    """The columns a snapshot may carry: the enrolment state and every stored catalog feature."""
    return [*STATE, *(c.name for c in load_catalog().stored_features)]


def carried_columns(engine: Engine, seqs: Iterable[int]) -> dict[int, frozenset[str]]:
    """Per upload (by arrival number), the columns its file had."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    query = sa.select(uploads.c.seq, uploads.c.columns).where(uploads.c.seq.in_(wanted))
    with engine.connect() as conn:
        return {row.seq: frozenset(row.columns or ()) for row in conn.execute(query)}


def as_of(versions: pd.DataFrame, carried: dict[int, frozenset[str]], day: date | None = None) -> pd.DataFrame:
    """One row per student: what the versions dated on or before ``day`` (all, when None) say, column by column.

    ``valid_from`` of the result is the date of the student's latest version: the true "data as of"."""
    if day is not None:
        versions = versions[pd.to_datetime(versions["valid_from"]) <= pd.Timestamp(day)]
    if versions.empty:
        return versions.drop(columns=["source_seq"], errors="ignore").iloc[0:0]
    versions = versions.sort_values([*RECORD_KEY, *VERSION_ORDER], kind="stable").reset_index(drop=True)
    student = versions.groupby(list(RECORD_KEY), sort=False).ngroup().to_numpy()
    last_row = _last_position(student, np.ones(len(versions), dtype=bool))
    out = versions.iloc[last_row][[*RECORD_KEY, "valid_from"]].reset_index(drop=True)
    seqs = versions["source_seq"].to_numpy()
    distinct = np.unique(seqs)
    for column in [c for c in record_columns() if c in versions.columns]:
        carrying = [seq for seq in distinct if column in carried.get(int(seq), ())]
        position = _last_position(student, np.isin(seqs, carrying))
        picked = versions[column].iloc[np.maximum(position, 0)].reset_index(drop=True)
        out[column] = picked.where(pd.Series(position >= 0))
    return out


def _last_position(group: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per group (0..n-1, rows sorted by group), the position of its last row where ``mask`` holds, else -1."""
    groups = int(group.max()) + 1 if len(group) else 0
    last = np.full(groups, -1)
    rows = np.flatnonzero(mask)
    last[group[rows]] = rows  # later rows overwrite earlier ones: the last one stays
    return last


def _versions_query(course_id: str | None, period_id: str | None, until: date | None) -> sa.Select[tuple[object]]:
    query = sa.select(record_versions)
    if course_id is not None:
        query = query.where(record_versions.c.course_id == course_id)
    if period_id is not None:
        query = query.where(record_versions.c.period_id == period_id)
    if until is not None:
        query = query.where(record_versions.c.valid_from <= until)
    return query


def read_versions(
    engine: Engine, course_id: str | None = None, period_id: str | None = None, until: date | None = None
) -> pd.DataFrame:
    """The stored versions (of one course period, up to a day, when given)."""
    with engine.connect() as conn:
        frame = pd.read_sql(_versions_query(course_id, period_id, until), conn)
    for column in ("valid_from", "as_of_date", "withdrawal_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def with_scale(engine: Engine, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its courses' grade_max and pass_mark."""
    query = sa.select(courses.c.course_id, courses.c.period_id, courses.c.grade_max, courses.c.pass_mark)
    names = frame["course_id"].dropna().unique().tolist() if "course_id" in frame else []
    if 0 < len(names) <= 500:  # a course's report reads its own scale, not every course's (thousands a term)
        query = query.where(courses.c.course_id.in_(names))
    with engine.connect() as conn:
        scales = pd.read_sql(query, conn)
    return frame.merge(scales, on=["course_id", "period_id"], how="left")


def course_snapshot(engine: Engine, course_id: str, period_id: str, day: date) -> pd.DataFrame:
    """The course's students as known on ``day`` (from the versions dated on or before it), with the course's
    grade scale, by user id."""
    versions = read_versions(engine, course_id, period_id, until=day)
    snapshot = as_of(versions, carried_columns(engine, versions["source_seq"]), day)
    return with_scale(engine, snapshot).sort_values("user_id").reset_index(drop=True)


def enrolled(frame: pd.DataFrame, day: date) -> pd.Series:
    """Students still enrolled on ``day``: not withdrawn, or withdrawn only after it (a withdrawal without a
    date counts from the snapshot that reported it)."""
    if "enrolment_status" not in frame:
        return pd.Series(True, index=frame.index)
    withdrawn = frame["enrolment_status"].astype(object) == "withdrawn"
    when = pd.to_datetime(frame.get("withdrawal_date"), errors="coerce")
    return ~(withdrawn & (when.isna() | (when <= pd.Timestamp(day))))


def records_of_courses(engine: Engine, course_ids: list[str], period_ids: list[str] | None = None) -> pd.DataFrame:
    """Current records of every student of these courses (of these periods, when given), as stored."""
    query = sa.select(student_records).where(student_records.c.course_id.in_(course_ids))
    if period_ids is not None:
        query = query.where(student_records.c.period_id.in_(period_ids))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def term_week(period: Period, day: date) -> float:
    return round(max(0.0, (day - period.start_date).days / 7), 3)


def rows_as_of(versions: pd.DataFrame, carried: dict[int, frozenset[str]], period: Period, day: date) -> pd.DataFrame:
    """Every student still enrolled on ``day``, as known on ``day``, with the term position."""
    rows = as_of(versions, carried, day)
    rows = rows[enrolled(rows, day)].reset_index(drop=True)
    rows[TERM_WEEK] = term_week(period, day)
    rows[REPORT_DATE] = day
    return rows


def spanning_period(period_id: str, versions: pd.DataFrame) -> Period:
    """A period never declared: from its first to its last snapshot (so its rows still have a term position)."""
    days = pd.to_datetime(versions["valid_from"]).dt.date
    start, end = min(days), max(days)
    return Period(period_id, start, max(end, start + timedelta(days=1)), 3)


def scoring_rows(engine: Engine, course_id: str, period: Period, day: date) -> pd.DataFrame:
    """A course's students as a report on ``day`` scores them, with the course's grade scale."""
    versions = read_versions(engine, course_id, period.period_id, until=day)
    rows = rows_as_of(versions, carried_columns(engine, versions["source_seq"]), period, day)
    rows = with_engagement(rows, read_activity(engine, [course_id], [period.period_id], until=day), period, day)
    return with_scale(engine, rows).sort_values("user_id").reset_index(drop=True)


def training_rows(
    history: pd.DataFrame,
    carried: dict[int, frozenset[str]],
    periods: dict[str, Period],
    days: list[date] | None = None,
    activity: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``history``: versions of labelled students (with their final grade and course scale); ``activity``: their
    courses' daily activity (:func:`~passcompass_assets.core.activity.engagement.read_activity`). One row per
    student still enrolled on each report date of their period (or on ``days``), as known then."""
    labels = [c for c in ("final_grade", "grade_max", "pass_mark") if c in history.columns]
    activity = activity if activity is not None else pd.DataFrame(columns=[*ACTIVITY_KEY, "day", "events"])
    activity_of = {key: group for key, group in activity.groupby(["course_id", "period_id"])}
    frames = []
    for (course_id, period_id), versions in history.groupby(["course_id", "period_id"], sort=True):
        period = periods.get(str(period_id)) or spanning_period(str(period_id), versions)
        outcome = versions.drop_duplicates(["user_id"])[["user_id", *labels]]
        course_activity = activity_of.get((course_id, period_id), activity.iloc[0:0])
        for day in days if days is not None else report_dates(period):
            rows = rows_as_of(versions.drop(columns=labels), carried, period, day)
            rows = with_engagement(rows, course_activity, period, day)
            if not rows.empty:
                frames.append(rows.merge(outcome, on="user_id", how="inner"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
