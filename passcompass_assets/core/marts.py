"""Where the dbt marts land and how to read them (a typed frame, the same on both databases).

SQLite: every model is in ``main`` of the operational file (dbt-sqlite would put another schema in another file,
out of reach of the operational engine). PostgreSQL: models are in the ``analytics`` schema, apart from the
Alembic-owned operational tables in ``public``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

POSTGRES_SCHEMA = "analytics"
POSTGRES_SOURCE_SCHEMA = "public"
_DATE_COLUMNS = ("as_of_date", "withdrawal_date", "valid_from")


def course_periods_of(engine: Engine, name: str, course_id: str | None = None) -> list[tuple[str, str]]:
    """The (course_id, period_id) pairs a dbt model holds rows of (of one course, when given)."""
    table = sa.table(name, sa.column("course_id"), sa.column("period_id"), schema=models_schema(engine.dialect.name))
    query = sa.select(table.c.course_id, table.c.period_id).distinct()
    if course_id is not None:  # a course's report asks per course: never a scan of every course's history
        query = query.where(table.c.course_id == course_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return sorted((str(c), str(p)) for c, p in rows)


_TIMESTAMP_COLUMNS = ("record_updated_at",)


def models_schema(dialect_name: str) -> str | None:
    """The schema of the dbt models on a dialect (None: SQLite's ``main``, the default)."""
    return None if dialect_name == "sqlite" else POSTGRES_SCHEMA


def read_table(
    engine: Engine,
    name: str,
    course_id: str | None = None,
    period_id: str | None = None,
    known_by: date | None = None,
) -> pd.DataFrame:
    """A dbt model (e.g. ``record_history``, ``training_set``), of one course (and period) when given, as a frame
    with the same dtypes on both dialects; of a history, only the versions known by ``known_by`` when given."""
    table = sa.table(
        name,
        sa.column("course_id"),
        sa.column("period_id"),
        sa.column("valid_from", sa.Date),
        schema=models_schema(engine.dialect.name),
    )
    query = sa.select(sa.text("*")).select_from(table)
    if course_id is not None:
        query = query.where(table.c.course_id == course_id)
    if period_id is not None:
        query = query.where(table.c.period_id == period_id)
    if known_by is not None:
        query = query.where(table.c.valid_from <= known_by)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    if frame.empty:
        return frame
    # SQLite hands dates and timestamps back as text; PostgreSQL as date and datetime objects.
    for column in _DATE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    for column in _TIMESTAMP_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
