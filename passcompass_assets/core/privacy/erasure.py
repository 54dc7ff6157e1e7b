"""Erase a student from every place the platform keeps data, and purge a period's student-level data.

Where a student's data lives, and what an erasure does there:

- the operational tables holding a ``user_id`` (``student_records``, ``record_versions``, ``final_grades``, the
  daily activity counts, the dbt marts, any later table with that column): its rows deleted (a period's purge also
  forgets which of its activity events were counted);
- the landing store: each landed file holding the student is rewritten without those rows (content-addressed, so
  under a new name; the uploads that named the old file name the new one, with their new row count), the old
  file deleted; files no upload names (a crash between landing a file and registering it) as well, and the
  report counts them (``landing:unregistered_files``, ``landing:unregistered_rewritten``);
- reports: each report with the student re-rendered from its JSON without the row, its counts updated, same id;
- evaluations: computed again without the student (or, where no final grades remain, its first flags redacted);
- drift pages of the student's course periods (Evidently's plots of the course's values): deleted, the next
  report makes them again;
- log lines the platform writes (``PASSCOMPASS_HOME/logs``, Dagster's captured step logs) naming the id: removed;
  error texts and the access log's targets naming it: the id replaced.

MLflow holds aggregates only (metrics, parameters, the fitted model); the next retraining no longer sees the
student. The erasure is recorded (who, when, where, how many rows) with a keyed hash of the id, never the id.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from passcompass_assets.core.access.keys import keyed_hash
from passcompass_assets.core.activity.store import forget_counted_events
from passcompass_assets.core.db.tables import (
    access_log,
    activity_daily,
    courses,
    erasures,
    final_grades,
    record_versions,
    report_requests,
    report_tasks,
    student_records,
)
from passcompass_assets.core.db.tables import uploads as uploads_table
from passcompass_assets.core.db.timestamps import utc
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.pseudonyms import stored_user_id
from passcompass_assets.core.keys import CoursePeriod, file_name
from passcompass_assets.core.marts import models_schema
from passcompass_assets.core.periods import find_period
from passcompass_assets.core.privacy.rewrite import (
    drop_rows,
    load_report,
    redact_evaluation,
    report_user_ids,
    write_report,
)
from passcompass_assets.core.reports.outcomes import evaluate_period, store_evaluation
from passcompass_assets.core.reports.store import list_reports
from passcompass_assets.core.reports.tasks import forget_period
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.access")
ERASED = "[erased]"
STUDENT_TABLES = (student_records, record_versions, final_grades, activity_daily)
# Text fields that may quote an id by accident (an error message, what the access log says was read).
_FREE_TEXT = (
    (uploads_table, "error"),
    (report_requests, "error"),
    (report_tasks, "error"),
    (access_log, "target"),
)


@dataclass
class Erasure:
    """What an erasure or a purge removed, by place (counts only)."""

    erasure_id: str
    scope: str
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, place: str, n: int) -> None:
        if n:
            self.counts[place] = self.counts.get(place, 0) + n

    def as_dict(self) -> dict[str, object]:
        return {"erasure_id": self.erasure_id, "scope": self.scope, "removed": dict(sorted(self.counts.items()))}


def id_pattern(user_id: str) -> re.Pattern[bytes]:
    """``user_id`` as a whole token (not inside a longer id): "s1" matches in '"s1"', not in "s10"."""
    return re.compile(rb"(?<![A-Za-z0-9_.-])" + re.escape(user_id.encode()) + rb"(?![A-Za-z0-9_-])")


# --- the database ----------------------------------------------------------------------------------------------


def _student_tables(conn: Connection) -> Iterator[sa.TableClause]:
    """Every table with ``user_id`` and ``course_id`` columns: the record tables, the dbt marts (in their own
    schema on PostgreSQL), and whatever later table keeps student rows. (Both columns: another system sharing the
    database, such as MLflow's ``runs``, may have a ``user_id`` of its own.)"""
    yield from STUDENT_TABLES
    known = {t.name for t in STUDENT_TABLES}
    inspector = sa.inspect(conn)
    schemas: list[str | None] = [None]
    marts = models_schema(conn.dialect.name)
    if marts and marts in inspector.get_schema_names():
        schemas.append(marts)
    for schema in schemas:
        for name in inspector.get_table_names(schema=schema):
            if schema is None and name in known:
                continue
            columns = {c["name"] for c in inspector.get_columns(name, schema=schema)}
            if {"user_id", "course_id"} <= columns:
                extra = [c for c in ("period_id",) if c in columns]
                names = ["user_id", "course_id", *extra]
                yield sa.table(name, *map(sa.column, names), schema=schema)


def _where(table: sa.TableClause, **equal: str | None) -> list[sa.ColumnElement[bool]]:
    return [table.c[name] == value for name, value in equal.items() if value is not None and name in table.c]


def _delete_rows(engine: Engine, erasure: Erasure, **equal: str | None) -> set[tuple[str, str]]:
    """Delete the matching rows of every student table; the (course, period) pairs they were in."""
    touched: set[tuple[str, str]] = set()
    with engine.begin() as conn:
        for table in list(_student_tables(conn)):
            conditions = _where(table, **equal)
            if len(conditions) != len([v for v in equal.values() if v is not None]):
                continue  # the table lacks a column the erasure is scoped by: not a per-student table of it
            if "course_id" in table.c and "period_id" in table.c:
                pairs = conn.execute(sa.select(table.c.course_id, table.c.period_id).where(*conditions).distinct())
                touched |= {(str(c), str(p)) for c, p in pairs}
            removed = conn.execute(sa.delete(table).where(*conditions)).rowcount or 0
            label = table.name if table.schema is None else f"{table.schema}.{table.name}"
            erasure.add(f"rows:{label}", int(removed))
    return touched


def _scrub_free_text(engine: Engine, user_id: str, erasure: Erasure) -> None:
    pattern = re.compile(id_pattern(user_id).pattern.decode())
    escaped = user_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.begin() as conn:
        for table, column in _FREE_TEXT:
            key = next(iter(table.primary_key.columns))
            rows = conn.execute(
                sa.select(key, table.c[column]).where(table.c[column].like(f"%{escaped}%", escape="\\"))
            ).all()
            for row_key, text in rows:
                redacted = pattern.sub(ERASED, str(text))
                if redacted != text:
                    conn.execute(table.update().where(key == row_key).values({column: redacted}))
                    erasure.add(f"text:{table.name}.{column}", 1)


def _compact_sqlite(engine: Engine, erasure: Erasure) -> None:
    """SQLite keeps deleted rows' bytes in free pages and old page versions in the write-ahead log: rebuild the
    file (VACUUM) and empty the log, so the erased values are gone from the file itself, not just from queries."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    except sa.exc.OperationalError as exc:  # another process kept the file busy past the timeout: say so, go on
        log.warning("the SQLite file could not be compacted after an erasure", extra={"reason": type(exc).__name__})
        erasure.add("sqlite_not_compacted", 1)
        return
    erasure.add("sqlite_compacted", 1 if busy is None or not busy[0] else 0)


# --- the landing store -----------------------------------------------------------------------------------------


def _rewrite_landed(
    engine: Engine,
    store: LandingStore,
    erasure: Erasure,
    remove: Callable[[pa.Table], pa.Array],
    columns: list[str],
    uploads_filter: Callable[[sa.Row], bool] = lambda row: True,
) -> None:
    """Rewrite every landed file holding rows ``remove`` marks, without them; re-point its uploads. Files no
    upload names (a crash between landing and registering) are read too: the report counts them."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(uploads_table.c.landing_sha256, uploads_table.c.period_ids)).all()
    unregistered = set(store.shas()) - {row.landing_sha256 for row in rows}
    erasure.add("landing:unregistered_files", len(unregistered))
    candidates = sorted({row.landing_sha256 for row in rows if uploads_filter(row)} | unregistered)
    for sha in candidates:
        path = store.path_for(sha)
        if not path.exists():
            continue
        present = [c for c in columns if c in pq.read_schema(path).names]
        if len(present) != len(columns):
            continue
        if not pc.any(remove(pq.read_table(path, columns=present))).as_py():
            continue
        table = store.get_table(sha)
        marked = pc.fill_null(remove(table), False)
        kept = table.filter(pc.invert(marked))
        new_sha = store.put(kept)
        if sha in unregistered and new_sha != sha:
            # Gone before any row is re-pointed: an upload registering this very file meanwhile either is
            # re-pointed below or finds its file missing and lands it again (receive_upload).
            path.unlink(missing_ok=True)
        with engine.begin() as conn:
            conn.execute(
                uploads_table.update()
                .where(uploads_table.c.landing_sha256 == sha)
                .values(landing_sha256=new_sha, rows=kept.num_rows)
            )
        erasure.add("landing:unregistered_rewritten" if sha in unregistered else "landing:files_rewritten", 1)
        erasure.add("landing:rows", table.num_rows - kept.num_rows)
        if new_sha != sha:
            path.unlink(missing_ok=True)


# --- reports, evaluations, drift pages -------------------------------------------------------------------------


def _drop_drift_pages(settings: Settings, pairs: set[tuple[str, str]], erasure: Erasure) -> None:
    folder = settings.reports_dir / "drift"
    if not folder.exists():
        return
    for course_id, period_id in pairs:
        prefix = file_name(CoursePeriod(course_id, period_id).prefix)  # core/drift.py names its pages so
        for page in folder.glob("*.html"):
            if page.name.startswith(prefix):
                page.unlink(missing_ok=True)
                erasure.add("drift_pages", 1)


def _has_final_grades(engine: Engine, course_id: str, period_id: str) -> bool:
    grades = final_grades.c
    query = sa.select(sa.func.count()).where(grades.course_id == course_id, grades.period_id == period_id)
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar_one())


def _evaluations(settings: Settings) -> Iterator[tuple[str, str, Path]]:
    """(course, period, JSON path) of every stored evaluation."""
    import json

    for path in sorted((settings.reports_dir / "evaluations").glob("*/evaluation.json")):
        values = json.loads(path.read_text(encoding="utf-8"))
        yield str(values.get("course_id")), str(values.get("period_id")), path


# --- log files -------------------------------------------------------------------------------------------------


def log_files(settings: Settings) -> Iterator[Path]:
    """The log files the platform writes: ``home/logs`` and the steps' output Dagster captured."""
    logs = settings.resolved_home / "logs"
    if logs.exists():
        yield from (p for p in logs.rglob("*") if p.is_file() and not p.is_symlink())
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    storage = dagster_home / "storage"
    if storage.exists():
        for pattern in ("*.out", "*.err", "*.log"):
            yield from (p for p in storage.rglob(pattern) if p.is_file() and not p.is_symlink())


def _scrub_logs(settings: Settings, user_id: str, erasure: Erasure) -> None:
    pattern = id_pattern(user_id)
    for path in log_files(settings):
        try:
            # In place (a process appending to it keeps its descriptor): read, drop the lines, write back.
            with path.open("r+b") as handle:
                content = handle.read()
                if not pattern.search(content):
                    continue
                lines = content.splitlines(keepends=True)
                kept = [line for line in lines if not pattern.search(line)]
                handle.seek(0)
                handle.write(b"".join(kept))
                handle.truncate()
        except OSError:
            continue
        erasure.add("log_lines", len(lines) - len(kept))


# --- the record ------------------------------------------------------------------------------------------------


def _record(
    engine: Engine,
    erasure: Erasure,
    actor: str,
    subject_hash: str | None,
    course_id: str | None = None,
    period_id: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            erasures.insert().values(
                erasure_id=erasure.erasure_id,
                at=datetime.now(UTC),
                actor=actor[:200],
                scope=erasure.scope,
                subject_hash=subject_hash,
                course_id=course_id,
                period_id=period_id,
                counts=erasure.counts,
            )
        )


def erasure_hash(settings: Settings, user_id: str) -> str:
    """The keyed hash an erasure of ``user_id`` is recorded by (to confirm later that it was erased)."""
    return keyed_hash(settings, "erasure", user_id)


@dataclass(frozen=True)
class ErasureRecord:
    erasure_id: str
    at: datetime
    actor: str
    scope: str
    subject_hash: str | None
    course_id: str | None
    period_id: str | None
    counts: dict[str, int]


def list_erasures(engine: Engine, scope: str | None = None, period_id: str | None = None) -> list[ErasureRecord]:
    """Recorded erasures and purges, newest first."""
    query = sa.select(erasures).order_by(erasures.c.at.desc())
    if scope:
        query = query.where(erasures.c.scope == scope)
    if period_id:
        query = query.where(erasures.c.period_id == period_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ErasureRecord(
            r.erasure_id,
            utc(r.at) or datetime.now(UTC),
            r.actor,
            r.scope,
            r.subject_hash,
            r.course_id,
            r.period_id,
            dict(r.counts or {}),
        )
        for r in rows
    ]


# --- erase a student -------------------------------------------------------------------------------------------


def erase_student(
    settings: Settings, engine: Engine, user_id: str, *, course_id: str | None = None, actor: str
) -> Erasure:
    """Remove ``user_id`` (in ``course_id`` only, when given) from everywhere the platform keeps it (see the
    module's docstring); record who did it. Idempotent: erasing again finds nothing more."""
    if not user_id.strip():
        raise ValueError("a user id is needed")
    user_id = stored_user_id(user_id, settings.pseudonym_key)  # the institution's id, as the platform keeps it
    erasure = Erasure(str(uuid.uuid4()), "student")
    store = LandingStore(settings.landing_dir)

    touched = _delete_rows(engine, erasure, user_id=user_id, course_id=course_id)

    def landed(table: pa.Table) -> pa.Array:
        marked = pc.equal(table.column("user_id").cast(pa.string()), user_id)
        if course_id is not None:
            marked = pc.and_(marked, pc.equal(table.column("course_id").cast(pa.string()), course_id))
        return pc.fill_null(marked, False)

    _rewrite_landed(engine, store, erasure, landed, ["user_id", "course_id"] if course_id else ["user_id"])

    for record in list_reports(engine, course_id):
        if user_id not in report_user_ids(settings.reports_dir, record):
            continue
        report, _ = load_report(settings.reports_dir, record)
        cleaned, removed = drop_rows(report, lambda rows: rows["user_id"].astype(str) == user_id, recount=True)
        if removed:
            write_report(engine, settings.reports_dir, record, cleaned)
            erasure.add("reports", 1)
            touched.add((record.course_id, record.period_id))

    for eval_course, eval_period, path in _evaluations(settings):
        if course_id is not None and eval_course != course_id:
            continue
        named = id_pattern(user_id).search(path.read_bytes()) is not None
        if not named and (eval_course, eval_period) not in touched:
            continue
        if _has_final_grades(engine, eval_course, eval_period):
            period = find_period(engine, eval_period)
            evaluation = evaluate_period(
                engine, settings.reports_dir, eval_course, eval_period, period.end_date if period else None
            )
            store_evaluation(settings.reports_dir, evaluation)
        else:
            redact_evaluation(settings.reports_dir, path, lambda user: user != user_id)
        erasure.add("evaluations", 1)

    _drop_drift_pages(settings, touched, erasure)
    _scrub_free_text(engine, user_id, erasure)
    _compact_sqlite(engine, erasure)
    _scrub_logs(settings, user_id, erasure)
    _record(engine, erasure, actor, erasure_hash(settings, user_id), course_id=course_id)
    return erasure


# --- purge a period (retention) --------------------------------------------------------------------------------


def purge_period(settings: Settings, engine: Engine, period_id: str, *, actor: str = "retention") -> Erasure:
    """Purge a period's student-level data: its rows in every student table and landed file, the student rows of
    its reports (their header counts stay: aggregates), its evaluations' first flags (their summaries stay), its
    drift pages. Recorded as a ``retention`` erasure of the period."""
    erasure = Erasure(str(uuid.uuid4()), "retention")
    store = LandingStore(settings.landing_dir)
    with engine.connect() as conn:
        through: int = conn.execute(sa.select(sa.func.max(uploads_table.c.seq))).scalar_one() or 0
        named = sa.select(courses.c.course_id).where(courses.c.period_id == period_id)
        course_names = set(conn.execute(named).scalars())
    _delete_rows(engine, erasure, period_id=period_id)
    with engine.begin() as conn:
        erasure.add("activity_events_forgotten", forget_counted_events(conn, period_id))

    def landed(table: pa.Table) -> pa.Array:
        return pc.fill_null(pc.equal(table.column("period_id").cast(pa.string()), period_id), False)

    _rewrite_landed(
        engine, store, erasure, landed, ["period_id"], uploads_filter=lambda row: period_id in (row.period_ids or [])
    )

    purged_at = datetime.now(UTC).isoformat(timespec="seconds")
    for record in list_reports(engine, period_id=period_id):
        course_names.add(record.course_id)
        if not record.file(settings.reports_dir, "json").exists():
            continue
        report, stored = load_report(settings.reports_dir, record)
        if report.students.empty:
            continue
        cleaned, removed = drop_rows(report, lambda rows: pd.Series(True, index=rows.index), recount=False)
        write_report(engine, settings.reports_dir, record, cleaned, extra={"student_rows_purged_at": purged_at})
        erasure.add("reports", 1)
        erasure.add("report_rows", removed)

    for _course, eval_period, path in _evaluations(settings):
        if eval_period == period_id and redact_evaluation(settings.reports_dir, path, lambda user: False):
            erasure.add("evaluations", 1)

    _drop_drift_pages(settings, {(c, period_id) for c in course_names}, erasure)
    erasure.add("report_tasks", forget_period(engine, period_id))
    _compact_sqlite(engine, erasure)
    erasure.add("through_upload_seq", int(through))
    _record(engine, erasure, actor, None, period_id=period_id)
    return erasure
