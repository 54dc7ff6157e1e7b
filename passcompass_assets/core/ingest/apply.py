"""Apply a landed upload to ``student_records`` and ``final_grades``: one transaction per upload.

Upsert rules: per (user_id, course_id, period_id) the latest upload (by arrival, ``seq``) wins, column
by column; a column the upload leaves out keeps its value, an empty cell in a column it has clears it; re-applying
an upload changes nothing. The state is always that of applying every processed upload in arrival order, whatever
order the runs commit in: an upload applied after a newer one of the same course (a retried run, runs racing, a
backlog) writes its rows, then the rows of the students a newer upload also holds are made again from their
history of snapshots (``record_versions``, this upload's included) in arrival order, in the same transaction.
Only those students' histories are read; no newer upload is read or written again. Final grades need no such
step: a stored grade a newer upload wrote is kept. The usual in-order apply costs one query to find nothing.

Writers take turns: on PostgreSQL a table lock that readers do not notice, on SQLite its single writer. So an
upsert is a few set operations instead of a million single-row conflicts: the rows are ``COPY``'d into a
temporary table, existing rows are updated with one join and new ones inserted with another. When every course of
the upload is new, no row can exist yet and the rows are ``COPY``'d straight into the table (for a million new
rows, 2.5 times faster than ``INSERT .. ON CONFLICT``); should one exist after all, the primary key refuses it and
the general path runs instead. SQLite: batched ``INSERT .. ON CONFLICT``.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from passcompass_assets.core.catalog import RECORD_KEY
from passcompass_assets.core.db.tables import courses, final_grades, record_versions, student_records, uploads
from passcompass_assets.core.ingest.landing import LandingStore

PROVENANCE = ("source_upload_id", "source_seq", "updated_at")
SQLITE_BATCH = 5000
COPY_CHUNK = 1024 * 1024
COPY_BATCH = 65536
# The set-based update hashes the upload's rows; writers take turns, so one such budget at a time.
POSTGRES_WORK_MEM = "256MB"


@dataclass(frozen=True)
class AppliedUpload:
    upload_id: str
    kind: str
    student_rows: int
    grade_rows: int
    course_ids: list[str]
    # Newer uploads sharing students and columns with this one (it was applied out of order): the students' rows
    # were made again from their history.
    replayed_uploads: int = 0
    period_ids: list[str] | None = None


@dataclass(frozen=True)
class Provenance:
    upload_id: str
    seq: int
    at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"source_upload_id": self.upload_id, "source_seq": self.seq, "updated_at": self.at}


def _overwrite(new: sa.ColumnCollection | dict, columns: list[str]) -> dict:
    """SET clause: every column the upload has (keys excepted) takes the upload's value, empty or not."""
    return {column: new[column] for column in columns if column not in RECORD_KEY}


def _not_older(table: sa.Table, incoming: dict[str, sa.ColumnElement[object]]) -> sa.ColumnElement[bool]:
    """A row replaces the stored one unless both are dated and it describes an earlier day (a history backfill
    arriving after newer snapshots leaves the current state alone; its rows still become versions)."""
    if "as_of_date" not in incoming:
        return sa.true()
    old, new = table.c.as_of_date, incoming["as_of_date"]
    return sa.or_(old.is_(None), new.is_(None), new >= old)


def _upsert_sqlite(
    conn: Connection, table: sa.Table, data: pa.Table, provenance: Provenance, only_newer: bool = False
) -> None:
    """One ``INSERT .. ON CONFLICT`` executed for every row, the rows as plain tuples: Arrow converts the values
    to what SQLAlchemy would store (ISO dates, 0/1), so no per-row type processing runs (3 times faster)."""
    columns = [*data.column_names, *PROVENANCE]
    statement = sqlite.insert(table).values({c: sa.bindparam(c) for c in columns})
    statement = statement.on_conflict_do_update(
        index_elements=list(RECORD_KEY),
        set_=_overwrite(statement.excluded, columns),
        where=sa.and_(
            _not_older(table, {c: statement.excluded[c] for c in columns}),
            table.c.source_seq <= statement.excluded.source_seq if only_newer else sa.true(),
        ),
    )
    compiled = statement.compile(dialect=conn.dialect)
    order = [columns.index(name) for name in compiled.positiontup or ()]
    stored = [_as_stored(data[name]) for name in data.column_names]
    extra = [table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for name in PROVENANCE]
    constants = [
        process(value) if process else value
        for process, value in zip(extra, provenance.as_dict().values(), strict=True)
    ]
    for start in range(0, data.num_rows, SQLITE_BATCH):  # a batch of Python rows at a time, not all
        values = [column[start : start + SQLITE_BATCH].to_pylist() for column in stored]
        values += [[constant] * len(values[0]) for constant in constants]
        conn.exec_driver_sql(compiled.string, list(zip(*[values[i] for i in order], strict=True)))


def _as_stored(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """SQLite's form of a column as SQLAlchemy stores it: dates as ISO text, booleans as 0/1."""
    if pa.types.is_date(values.type):
        return pc.cast(values, pa.string())
    if pa.types.is_boolean(values.type):
        return pc.cast(values, pa.int8())
    return values


def _copy(conn: Connection, target: str, data: pa.Table, order: pa.Array | None = None) -> None:
    """``COPY`` the rows (in ``order``, if given) into ``target``: Arrow writes the CSV into a pipe on one core while
    PostgreSQL reads it on the other, a batch at a time (never a second copy of the whole table in memory). An
    empty unquoted field is NULL; strings are quoted."""
    quoted = ", ".join(f'"{c}"' for c in data.column_names)
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    cursor = driver.cursor()
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            with os.fdopen(write_end, "wb") as sink, pacsv.CSVWriter(sink, data.schema, write_options=options) as csv:
                for start in range(0, data.num_rows, COPY_BATCH):
                    rows = order[start : start + COPY_BATCH] if order is not None else None
                    csv.write_table(data.take(rows) if rows is not None else data.slice(start, COPY_BATCH))
        except BrokenPipeError:  # COPY stopped reading: its own error is raised below
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(exc)

    writer = threading.Thread(target=write, name=f"copy-{target}", daemon=True)
    writer.start()
    try:
        with os.fdopen(read_end, "rb") as source:
            cursor.copy_expert(
                f"COPY \"{target}\" ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '')", source, COPY_CHUNK
            )
    finally:
        writer.join()
    if failed:  # a CSV cut short must not commit as if it were whole
        raise failed[0]


def _with_provenance(data: pa.Table, provenance: Provenance) -> pa.Table:
    one = pa.array([0] * data.num_rows, pa.int32())  # every row takes the single value
    values = (provenance.upload_id, provenance.seq, provenance.at.isoformat())
    for name, value in zip(PROVENANCE, values, strict=True):
        data = data.append_column(name, pc.take(pa.array([value]), one))
    return data


def _upsert_postgres(
    conn: Connection,
    table: sa.Table,
    data: pa.Table,
    provenance: Provenance,
    all_courses_new: bool,
    only_newer: bool = False,
) -> None:
    from psycopg2.errors import UniqueViolation

    if all_courses_new:
        # In key order, index inserts walk the primary key's leaves in order: a quarter faster for a million rows.
        order = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in RECORD_KEY])
        savepoint = conn.begin_nested()
        try:
            _copy(conn, table.name, _with_provenance(data, provenance), order)
        except UniqueViolation:  # a row exists after all: take the general path
            savepoint.rollback()
        else:
            savepoint.commit()
            return
    columns = data.column_names
    staging = f"staging_{table.name}_{uuid.uuid4().hex[:8]}"
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE "{staging}" ON COMMIT DROP AS SELECT {quoted} FROM "{table.name}" WITH NO DATA'
    )
    _copy(conn, staging, data)
    conn.exec_driver_sql(f'ANALYZE "{staging}"')  # so the planner sizes the joins right
    new = sa.table(staging, *[sa.column(c) for c in columns])
    same_key = sa.and_(*[table.c[k] == new.c[k] for k in RECORD_KEY])
    upload_id = sa.literal(provenance.upload_id, sa.String())
    seq = sa.literal(provenance.seq, sa.Integer())
    at = sa.literal(provenance.at, sa.DateTime(timezone=True))
    incoming = {c: new.c[c] for c in columns} | {"source_upload_id": upload_id, "source_seq": seq, "updated_at": at}
    values = _overwrite(incoming, [*columns, *PROVENANCE])
    guard = _not_older(table, {c: new.c[c] for c in columns})
    if only_newer:
        guard = sa.and_(guard, table.c.source_seq <= seq)
    updated = conn.execute(table.update().where(same_key, guard).values(values)).rowcount
    if updated < data.num_rows:  # some keys are new (or their rows are newer than this upload's)
        select = sa.select(*[new.c[c] for c in columns], upload_id, seq, at).where(~sa.exists().where(same_key))
        conn.execute(table.insert().from_select([*columns, *PROVENANCE], select))


def upsert(
    conn: Connection,
    table: sa.Table,
    data: pa.Table,
    provenance: Provenance,
    *,
    all_courses_new: bool = False,
    only_newer: bool = False,
) -> None:
    """``only_newer``: a stored row a newer upload wrote stays (final grades: the newest upload's grade wins
    whatever order the uploads are applied in)."""
    if not data.num_rows:
        return
    if conn.dialect.name == "postgresql":
        _upsert_postgres(conn, table, data, provenance, all_courses_new, only_newer)
    else:
        _upsert_sqlite(conn, table, data, provenance, only_newer)


def _ensure_courses(conn: Connection, data: pa.Table, grade_max: float, pass_mark: float) -> bool:
    """Register courses first seen in this upload (concurrent uploads may race to, so conflicts are fine);
    whether every one of them is new."""
    pairs = data.select(["course_id", "period_id"]).group_by(["course_id", "period_id"]).aggregate([]).to_pylist()
    now = datetime.now(UTC)
    new = [p | {"grade_max": grade_max, "pass_mark": pass_mark, "created_at": now} for p in pairs]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(dialect.insert(courses).on_conflict_do_nothing().returning(courses.c.course_id), new)
    return len(inserted.all()) == len(pairs)


def _take_turn(conn: Connection) -> None:
    """Writers of the records take turns; readers are not blocked. PostgreSQL: both tables, always in this order
    (no two writers deadlock). SQLite has one writer at a time: its write lock is taken first (``BEGIN
    IMMEDIATE``, waiting out the busy timeout), before any read, so a transaction that read and then wants to
    write never finds another writer's newer snapshot (``database is locked`` at once, the timeout unused)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'LOCK TABLE "{student_records.name}", "{final_grades.name}" IN SHARE ROW EXCLUSIVE MODE')
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _latest_snapshots(data: pa.Table) -> pa.Table:
    """One row per student: an upload may hold several dated snapshots of a student (a history backfill); the
    current state takes the latest."""
    if "as_of_date" not in data.column_names or len(pc.unique(_keys(data))) == data.num_rows:
        return data
    order = pc.sort_indices(data, sort_keys=[*[(k, "ascending") for k in RECORD_KEY], ("as_of_date", "ascending")])
    ordered = data.take(order)
    keys = _keys(ordered).to_numpy(zero_copy_only=False)
    last = np.append(keys[1:] != keys[:-1], True)  # the last row of each student's run of rows
    return ordered.filter(pa.array(last))


def _record_tables(data: pa.Table, kind: str) -> tuple[pa.Table, pa.Table]:
    """(rows for ``student_records``, rows for ``final_grades``) of a landed upload: the latest snapshot of each
    student, and the final grades it carries."""
    record_columns = [c for c in data.column_names if c in student_records.c and c != "final_grade"]
    latest = _latest_snapshots(data)
    students = latest.select(record_columns) if kind == "students" else latest.select(record_columns).slice(0, 0)
    data = latest
    if "final_grade" in data.column_names:
        grades = data.filter(pc.is_valid(data["final_grade"])).select([*RECORD_KEY, "final_grade"])
    else:
        grades = data.select(list(RECORD_KEY)).slice(0, 0)
    return students, grades


def _keys(data: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(*[data[k] for k in RECORD_KEY], "\x1f")


def _versions(data: pa.Table, upload: sa.Row, recorded_at: datetime) -> pa.Table:
    """Every snapshot row of a student upload as a dated version: valid from its as_of_date, else from the day
    the upload arrived."""
    columns = [c for c in data.column_names if c in record_versions.c and c != "final_grade"]
    versions = data.select(columns)
    arrived = pa.scalar(upload.received_at.date(), pa.date32())
    dated = versions["as_of_date"] if "as_of_date" in columns else pa.nulls(versions.num_rows, pa.date32())
    one = pa.array([0] * versions.num_rows, pa.int32())
    constants = {
        "valid_from": pc.fill_null(dated, arrived),
        "source_seq": pc.take(pa.array([upload.seq], pa.int64()), one),
        "source_upload_id": pc.take(pa.array([upload.upload_id]), one),
        "recorded_at": pc.take(pa.array([recorded_at.isoformat()]), one),
    }
    for name, values in constants.items():
        versions = versions.append_column(name, values)
    return versions


def _insert_versions(conn: Connection, versions: pa.Table, seq: int) -> None:
    """Append the upload's versions once: a re-applied upload (a retried run) finds its own and adds nothing."""
    already = sa.select(sa.literal(1)).where(record_versions.c.source_seq == seq).limit(1)
    if not versions.num_rows or conn.execute(already).first() is not None:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, record_versions.name, versions)
        return
    # SQLite keeps timestamps as SQLAlchemy writes them (not ISO text): the one timestamp goes through its processor.
    process = record_versions.c.recorded_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is not None:
        at = datetime.fromisoformat(str(versions["recorded_at"][0].as_py()))
        index = versions.column_names.index("recorded_at")
        one = pa.array([0] * versions.num_rows, pa.int32())
        versions = versions.set_column(index, "recorded_at", pc.take(pa.array([process(at)]), one))
    columns = versions.column_names
    statement = record_versions.insert().values({c: sa.bindparam(c) for c in columns}).compile(dialect=conn.dialect)
    order = [columns.index(name) for name in statement.positiontup or ()]
    stored = [_as_stored(versions[name]) for name in columns]
    for start in range(0, versions.num_rows, SQLITE_BATCH):
        values = [column[start : start + SQLITE_BATCH].to_pylist() for column in stored]
        conn.exec_driver_sql(statement.string, list(zip(*[values[i] for i in order], strict=True)))


def _overtaken_keys(conn: Connection, upload: sa.Row, students: pa.Table) -> pa.Array:
    """The upload's students that a newer, already applied upload also holds (their rows came from it)."""
    newer = sa.select(record_versions.c.user_id, record_versions.c.course_id, record_versions.c.period_id).where(
        record_versions.c.source_seq > upload.seq,
        record_versions.c.course_id.in_(list(upload.course_ids)),
        record_versions.c.period_id.in_(list(upload.period_ids)),
    )
    rows = conn.execute(newer.distinct()).all()
    if not rows:  # the usual, in-order apply: one indexed query finds nothing
        return pa.array([], pa.string())
    found = pa.table({k: pa.array([row[i] for row in rows], pa.string()) for i, k in enumerate(RECORD_KEY)})
    return pc.unique(pc.filter(_keys(students), pc.is_in(_keys(students), value_set=_keys(found))))


def _seq(version: dict[str, object]) -> int:
    return int(str(version["source_seq"]))


def _fold(history: list[dict[str, object]], carried: dict[int, list[str]]) -> tuple[dict[str, object], int, str]:
    """A student's row as applying their snapshots one upload at a time in arrival order makes it (the upsert's
    rules: the columns an upload carried; a snapshot dated before the stored one changes nothing); with the seq
    and id of the upload that wrote it last."""
    state: dict[str, object] = {}
    seq, upload_id = 0, ""
    for version in history:
        columns = carried[_seq(version)]
        if state and "as_of_date" in columns:
            old, new = state.get("as_of_date"), version["as_of_date"]
            if old is not None and new is not None and new < old:  # type: ignore[operator]
                continue
        state.update({c: version[c] for c in columns})
        seq, upload_id = _seq(version), str(version["source_upload_id"])
    return state, seq, upload_id


def _recompute_overtaken(conn: Connection, upload: sa.Row, students: pa.Table) -> int:
    """Rows of students a newer upload already wrote, made again from their history of snapshots (including this
    upload's, just recorded) in arrival order: the state as if every upload had been applied in that order. Only
    those students are read, and no newer upload is written again, so applying out of order costs the history
    of the students it shares with newer uploads (it was every newer upload of the course, read and written
    again). How many newer uploads share students and columns with this one (those that can change its rows)."""
    if not students.num_rows:
        return 0
    overtaken = _overtaken_keys(conn, upload, students)
    if not len(overtaken):
        return 0
    parts = [key.split("\x1f") for key in overtaken.to_pylist()]
    wanted = {tuple(p) for p in parts}
    record = [
        c.name for c in student_records.c if c.name not in (*RECORD_KEY, *PROVENANCE) and c.name in record_versions.c
    ]
    history: dict[tuple[str, ...], list[dict[str, object]]] = {}
    stored: dict[tuple[str, ...], dict[str, object]] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for user_id, course_id, period_id in parts:
        groups.setdefault((course_id, period_id), []).append(user_id)
    for (course_id, period_id), users in groups.items():
        for start in range(0, len(users), 500):
            chunk = users[start : start + 500]
            same = (record_versions.c.course_id == course_id, record_versions.c.period_id == period_id)
            versions = sa.select(record_versions).where(*same, record_versions.c.user_id.in_(chunk))
            # Each upload's latest snapshot of the student last (an undated one counts as the latest).
            order = [record_versions.c.source_seq, record_versions.c.as_of_date.is_(None), record_versions.c.as_of_date]
            for row in conn.execute(versions.order_by(*order)).mappings():
                history.setdefault((row["user_id"], row["course_id"], row["period_id"]), []).append(dict(row))
            current = sa.select(student_records).where(
                student_records.c.course_id == course_id,
                student_records.c.period_id == period_id,
                student_records.c.user_id.in_(chunk),
            )
            for row in conn.execute(current).mappings():
                stored[(row["user_id"], row["course_id"], row["period_id"])] = dict(row)
    seqs = sorted({_seq(v) for versions in history.values() for v in versions})
    carried: dict[int, list[str]] = {}
    for start in range(0, len(seqs), 500):
        query = sa.select(uploads.c.seq, uploads.c.columns).where(uploads.c.seq.in_(seqs[start : start + 500]))
        carried.update({row.seq: [c for c in row.columns or () if c in record] for row in conn.execute(query)})
    now = datetime.now(UTC)
    recomputed: list[dict[str, object]] = []
    for key in sorted(wanted & history.keys() & stored.keys()):
        latest = {_seq(v): v for v in history[key]}  # per upload, its latest snapshot (ordered last above)
        state, seq, upload_id = _fold([latest[s] for s in sorted(latest)], carried)
        # A column no snapshot carried keeps what is stored (written before the history was kept).
        values = {**stored[key], **state, "source_seq": seq, "source_upload_id": upload_id, "updated_at": now}
        recomputed.append({**{f"key_{k}": values[k] for k in RECORD_KEY}, **values})
    same_key = sa.and_(*[student_records.c[k] == sa.bindparam(f"key_{k}") for k in RECORD_KEY])
    columns: dict[str, sa.BindParameter[object]] = {
        c.name: sa.bindparam(c.name) for c in student_records.c if c.name not in RECORD_KEY
    }
    for start in range(0, len(recomputed), SQLITE_BATCH):
        conn.execute(student_records.update().where(same_key).values(columns), recomputed[start : start + SQLITE_BATCH])
    own = set(carried.get(upload.seq, ()))
    newer = {_seq(v) for key in wanted for v in history.get(key, []) if _seq(v) > upload.seq}
    return len({seq for seq in newer if own & set(carried.get(seq, ()))})


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
    data = store.get_table(upload.landing_sha256)
    provenance = Provenance(upload_id, upload.seq, datetime.now(UTC))
    students, grades = _record_tables(data, upload.kind)

    with engine.begin() as conn:
        _take_turn(conn)
        all_new = _ensure_courses(conn, data, grade_max, pass_mark)
        upsert(conn, student_records, students, provenance, all_courses_new=all_new)
        upsert(conn, final_grades, grades, provenance, all_courses_new=all_new, only_newer=True)
        if upload.kind == "students":
            _insert_versions(conn, _versions(data, upload, provenance.at), upload.seq)
        # A new course has no newer upload to respect.
        replayed = 0 if all_new else _recompute_overtaken(conn, upload, students)
        conn.execute(
            uploads.update()
            .where(uploads.c.upload_id == upload_id)
            .values(status="processed", error=None, processed_at=datetime.now(UTC))
        )
    return AppliedUpload(
        upload_id=upload_id,
        kind=upload.kind,
        student_rows=students.num_rows,
        grade_rows=grades.num_rows,
        course_ids=list(upload.course_ids),
        replayed_uploads=replayed,
        period_ids=list(upload.period_ids),
    )
