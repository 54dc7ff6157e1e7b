"""Counting a learning platform's events into the daily activity history, once each.

An export is read whole before anything is kept: every chunk is counted inside one transaction, and a file with
any problem is refused with all of them, the transaction rolled back. An event counts for the course's term its day
falls in, or leads up to (``activity_lead_days`` before its first day); an event of a course no declared term holds
on that day is skipped, not kept for later: set the course up, then send the file again (events not counted are
not marked as counted). An event already counted (the same key, from an earlier file or earlier in this one)
counts nothing, so re-sent files and overlapping increments, in any order, change nothing.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from passcompass_assets.core.activity.formats import ReadContext, read_events
from passcompass_assets.core.db.tables import activity_daily, activity_seen, courses, periods
from passcompass_assets.core.ingest.problems import FileProblems
from passcompass_assets.core.ingest.pseudonyms import stored_user_id
from passcompass_assets.core.settings import Settings

_DAILY_KEY = ["user_id", "course_id", "period_id", "day", "kind"]
_staging_metadata = sa.MetaData()
# The chunk being counted: a temporary table of the connection, emptied after each chunk.
_staging = sa.Table(
    "activity_staging",
    _staging_metadata,
    sa.Column("event_key", sa.BigInteger(), primary_key=True, autoincrement=False),
    *(sa.Column(c.name, c.type, nullable=False) for c in activity_daily.columns),
    prefixes=["TEMPORARY"],
)


@dataclass
class ActivityReceipt:
    """What an activity file did: rows read, events newly counted, events already counted before, rows that are
    not a student's event in a declared course (by reason), and the span of days and people it touched."""

    format: str
    rows: int = 0
    events_counted: int = 0
    already_counted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    students: int = 0
    courses: int = 0
    first_day: date | None = None
    last_day: date | None = None


@dataclass(frozen=True)
class _Terms:
    """Each declared course's term windows: (course, period, counts from, first day, last day)."""

    windows: pd.DataFrame

    @classmethod
    def load(cls, conn: Connection, lead_days: int) -> _Terms:
        query = sa.select(courses.c.course_id, courses.c.period_id, periods.c.start_date, periods.c.end_date).join(
            periods, periods.c.period_id == courses.c.period_id
        )
        windows = pd.DataFrame(conn.execute(query).all(), columns=["course_id", "period_id", "start", "end"])
        windows["start"] = pd.to_datetime(windows["start"])
        windows["end"] = pd.to_datetime(windows["end"])
        windows["from"] = windows["start"] - pd.Timedelta(days=lead_days)
        return cls(windows)

    def assign(self, events: pd.DataFrame) -> pd.DataFrame:
        """``events`` with ``period_id`` set to the declared term of its course that holds its day (one in its
        term before one it leads up to; the later term first), dropped where none does; an event that names its
        period keeps it if the course is declared in it and holds the day."""
        merged = events.reset_index().merge(self.windows, on="course_id", how="inner", suffixes=("", "_term"))
        fits = (merged["day"] >= merged["from"]) & (merged["day"] <= merged["end"])
        fits &= merged["period_id"].isna() | (merged["period_id"] == merged["period_id_term"])
        merged = merged[fits].assign(in_term=lambda f: f["day"] >= f["start"])
        merged = merged.sort_values(["index", "in_term", "start"], ascending=[True, False, False])
        chosen = merged.drop_duplicates("index").set_index("index")
        out = events.loc[chosen.index].copy()
        out["period_id"] = chosen["period_id_term"]
        return out


def activity_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of :func:`import_activity` the settings decide (time zone, lead days, pseudonyms)."""
    return {
        "timezone": settings.timezone,
        "lead_days": settings.activity_lead_days,
        "pseudonym_key": settings.pseudonym_key,
    }


def import_activity(
    engine: Engine,
    source: IO[bytes],
    fmt: str,
    *,
    timezone: str = "UTC",
    lead_days: int = 28,
    pseudonym_key: str | None = None,
    companion: IO[bytes] | None = None,
) -> ActivityReceipt:
    """Count the events of an activity export (``fmt``: one of ``FORMATS``); :class:`Rejected` with every problem
    (nothing counted) when any row is wrong."""
    receipt = ActivityReceipt(format=fmt)
    problems = FileProblems()
    skipped: Counter[str] = Counter()
    students: set[str] = set()
    course_ids: set[str] = set()
    days: list[pd.Timestamp] = []
    with engine.begin() as conn:
        declared = conn.execute(sa.select(periods.c.period_id, periods.c.start_date)).tuples()
        starts: dict[str, date] = dict(declared.all())
        terms = _Terms.load(conn, lead_days)
        _staging.create(conn, checkfirst=True)  # SQLite may keep it on a pooled connection: emptied first
        conn.execute(_staging.delete())
        for chunk in read_events(fmt, source, ReadContext(timezone, starts), problems, companion):
            receipt.rows += chunk.rows
            skipped.update(chunk.skipped)
            if problems or chunk.events.empty:
                continue  # the file will be refused: read on only to name every problem
            events = chunk.events.drop_duplicates("event_key")
            receipt.already_counted += len(chunk.events) - len(events)
            placed = terms.assign(events)
            skipped["outside_declared_courses"] += len(events) - len(placed)
            if placed.empty:
                continue
            placed["user_id"] = _stored_ids(placed["user_id"], pseudonym_key)
            new = _count(conn, placed)
            receipt.events_counted += new
            receipt.already_counted += len(placed) - new
            students.update(placed["user_id"].unique())
            course_ids.update(placed["course_id"].unique())
            days += [placed["day"].min(), placed["day"].max()]
        _staging.drop(conn)
        if problems:
            raise problems.rejected()
    receipt.skipped = {reason: n for reason, n in sorted(skipped.items()) if n}
    receipt.students, receipt.courses = len(students), len(course_ids)
    if days:
        receipt.first_day, receipt.last_day = min(days).date(), max(days).date()
    return receipt


def _stored_ids(user_ids: pd.Series, key: str | None) -> pd.Series:
    if not key:
        return user_ids
    mapping = {u: stored_user_id(u, key) for u in user_ids.unique()}
    return user_ids.map(mapping)


def _count(conn: Connection, events: pd.DataFrame) -> int:
    """Add the chunk's events not counted before to the daily counts and mark them counted; how many were new."""
    _stage(conn, events[["event_key", *_DAILY_KEY, "events"]].assign(day=events["day"].dt.strftime("%Y-%m-%d")))
    staged = _staging.alias("s")
    unseen = ~sa.exists().where(activity_seen.c.event_key == staged.c.event_key)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    keys = [staged.c[name] for name in _DAILY_KEY]
    totals = sa.select(*keys, sa.func.sum(staged.c.events)).where(unseen).group_by(*keys)
    upsert = dialect.insert(activity_daily).from_select([*_DAILY_KEY, "events"], totals)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=_DAILY_KEY, set_={"events": activity_daily.c.events + upsert.excluded.events}
        )
    )
    marked = conn.execute(
        activity_seen.insert().from_select(
            ["event_key", "period_id"], sa.select(staged.c.event_key, staged.c.period_id).where(unseen)
        )
    )
    conn.execute(_staging.delete())
    return int(marked.rowcount or 0)


def _stage(conn: Connection, rows: pd.DataFrame) -> None:
    """The chunk into the staging table the fast way each database has: ``COPY`` on PostgreSQL, a plain
    ``executemany`` of tuples on SQLite (days as ISO text, as SQLAlchemy stores dates there)."""
    if conn.dialect.name == "postgresql":
        buffer = io.StringIO()
        rows.to_csv(buffer, index=False, header=False)
        buffer.seek(0)
        with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.copy_expert(f"COPY {_staging.name} ({', '.join(rows.columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
        return
    marks = ", ".join("?" * len(rows.columns))
    values = list(rows.itertuples(index=False, name=None))
    conn.exec_driver_sql(f"INSERT INTO {_staging.name} ({', '.join(rows.columns)}) VALUES ({marks})", values)


def forget_counted_events(conn: Connection, period_id: str) -> int:
    """Forget which events of a period were counted (retention purges the period's counts too)."""
    return int(conn.execute(activity_seen.delete().where(activity_seen.c.period_id == period_id)).rowcount or 0)
