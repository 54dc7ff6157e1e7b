"""Apply a landed upload to ``student_records`` and ``final_grades``: one transaction per upload.

Upsert rules (DESIGN.md): per (user_id, course_id, period_id) the latest upload (by arrival, ``seq``) wins; a
column the upload leaves out keeps its value; re-applying an upload changes nothing. An older upload applied
after a newer one (replay, concurrency) only fills values the newer one left empty, so the result does not depend
on processing order: concurrent or replayed runs end in the state of the later upload.

PostgreSQL takes rows through ``COPY`` into a temporary table and one ``INSERT .. SELECT .. ON CONFLICT``;
SQLite through batched ``INSERT .. ON CONFLICT``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from passcompass_assets.core.db import courses, final_grades, student_records, uploads
from passcompass_assets.core.landing import LandingStore

KEYS = ("user_id", "course_id", "period_id")
PROVENANCE = ("source_upload_id", "source_seq", "updated_at")
SQLITE_BATCH = 5000


@dataclass(frozen=True)
class AppliedUpload:
    upload_id: str
    kind: str
    student_rows: int
    grade_rows: int
    course_ids: list[str]


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _newest_wins(table: sa.Table, statement: sa.Insert, frame: pd.DataFrame) -> dict[str, sa.ColumnElement]:
    """SET clause: the newer upload's values win; an older one only fills what is still empty."""
    excluded = statement.excluded  # type: ignore[attr-defined]
    is_newer = excluded.source_seq >= table.c.source_seq
    update: dict[str, sa.ColumnElement] = {}
    for column in frame.columns:
        if column in KEYS:
            continue
        if column in PROVENANCE:
            update[column] = sa.case((is_newer, excluded[column]), else_=table.c[column])
        else:
            update[column] = sa.case(
                (is_newer, excluded[column]), else_=sa.func.coalesce(table.c[column], excluded[column])
            )
    return update


def _upsert_sqlite(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(index_elements=list(KEYS), set_=_newest_wins(table, statement, frame))
    rows = _records(frame)
    for start in range(0, len(rows), SQLITE_BATCH):
        conn.execute(statement, rows[start : start + SQLITE_BATCH])


def _upsert_postgres(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    staging = f"staging_{table.name}"
    columns = list(frame.columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{staging}" (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP')
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL, na_rep="")
    buffer.seek(0)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.copy_expert(f"COPY \"{staging}\" ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '')", buffer)
    source = sa.table(staging, *[sa.column(c) for c in columns])
    # Sorted by key so that concurrent upserts lock rows in the same order (no deadlock).
    select = sa.select(*[source.c[c] for c in columns]).order_by(*[source.c[k] for k in KEYS])
    statement = postgresql.insert(table).from_select(columns, select)
    statement = statement.on_conflict_do_update(index_elements=list(KEYS), set_=_newest_wins(table, statement, frame))
    conn.execute(statement)


def upsert(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _upsert_postgres(conn, table, frame)
    else:
        _upsert_sqlite(conn, table, frame)


def _ensure_courses(conn: Connection, frame: pd.DataFrame, grade_max: float, pass_mark: float) -> None:
    """Register courses first seen in this upload; concurrent uploads may race to do it, so conflicts are fine."""
    now = datetime.now(UTC)
    new = [
        {"course_id": c, "period_id": p, "grade_max": grade_max, "pass_mark": pass_mark, "created_at": now}
        for c, p in frame[["course_id", "period_id"]].drop_duplicates().itertuples(index=False)
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(courses).on_conflict_do_nothing(), new)


def apply_upload(
    engine: Engine,
    store: LandingStore,
    upload_id: str,
    *,
    grade_max: float = 20.0,
    pass_mark: float = 10.0,
) -> AppliedUpload:
    """Upsert one landed upload and mark it ``processed``, all in one transaction."""
    with engine.connect() as conn:
        upload = conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id)).one()
    frame = store.get(upload.landing_sha256)
    provenance = {"source_upload_id": upload_id, "source_seq": upload.seq, "updated_at": datetime.now(UTC)}

    record_columns = [c for c in frame.columns if c in student_records.c and c != "final_grade"]
    students = frame[record_columns].assign(**provenance) if upload.kind == "students" else frame.iloc[0:0]
    grades = (
        frame.loc[frame["final_grade"].notna(), [*KEYS, "final_grade"]].assign(**provenance)
        if "final_grade" in frame.columns
        else frame.iloc[0:0]
    )

    with engine.begin() as conn:
        _ensure_courses(conn, frame, grade_max, pass_mark)
        upsert(conn, student_records, students)
        upsert(conn, final_grades, grades)
        conn.execute(
            uploads.update()
            .where(uploads.c.upload_id == upload_id)
            .values(status="processed", error=None, processed_at=datetime.now(UTC))
        )
    return AppliedUpload(
        upload_id=upload_id,
        kind=upload.kind,
        student_rows=len(students),
        grade_rows=len(grades),
        course_ids=list(upload.course_ids),
    )
