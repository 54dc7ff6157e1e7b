"""Erasing a student, on SQLite and PostgreSQL, from a platform that has run for a term: uploads ingested by
Dagster runs, a model trained and logged to MLflow, dbt marts, reports, final grades, an evaluation, downloads in
the access log, log lines. Afterwards the id is nowhere: not in any file of the home (the SQLite database and the
MLflow store included), Dagster's instance, any table of the operational database (every schema; on PostgreSQL
Dagster's storage too). Everyone else is still there, the reports and the evaluation are made again without the
student, and the erasure is recorded without the id.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from passcompass_assets.core.datasets.demo import demo_periods, final_grades_for, make_snapshot_csv
from passcompass_assets.core.db.tables import erasures, final_grades, record_versions, student_records, uploads
from passcompass_assets.core.ingest.uploads import note_upload_error
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.privacy.erasure import erasure_hash, list_erasures
from passcompass_assets.core.reports.outcomes import evaluation_paths
from passcompass_assets.core.reports.store import list_reports
from passcompass_assets.core.reports.tasks import find_task, mark_failed, queue, scheduled_key
from passcompass_assets.core.retry import RetryPolicy
from passcompass_assets.core.settings import Settings
from passcompass_assets.operations import evaluate, process_pending, report, train

TODAY = date(2026, 3, 11)
STUDENTS = 160
ORIGINAL = "S00007"  # a demo student, renamed to an id found nowhere else
TARGET = "zq-erase-7731"
NEIGHBOUR = "S00008"


def renamed(content: bytes) -> bytes:
    return re.sub(rb"\b" + ORIGINAL.encode() + rb"\b", TARGET.encode(), content)


def places_holding(needle: str, settings: Settings, engine, dagster_home: Path) -> list[str]:
    """Every file under the home and Dagster's home, and every table of every schema, holding ``needle``."""
    found = []
    for root in (settings.resolved_home, dagster_home):
        for path in root.rglob("*"):
            if path.is_file() and needle.encode() in path.read_bytes():
                found.append(str(path.relative_to(root.parent)))
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        schemas: list[str | None] = [None]
        if engine.dialect.name != "sqlite":
            schemas = [s for s in inspector.get_schema_names() if s not in ("information_schema", "pg_catalog")]
        for schema in schemas:
            for table in inspector.get_table_names(schema=schema):
                name = f'"{schema}"."{table}"' if schema else f'"{table}"'
                text = pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn).to_csv()
                if needle in text:
                    found.append(f"table {name}")
    return found


@pytest.mark.slow
def test_erasing_a_student_leaves_no_trace(settings, engine, store, client, dagster_home, monkeypatch):
    monkeypatch.setenv("PASSCOMPASS_INITIAL_DATA", "none")  # learn from the platform's own history only
    settings = Settings()
    past, current = demo_periods(TODAY)
    for period in (past, current):
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))

    def upload(content: bytes, endpoint: str = "uploads") -> None:
        answer = client.post(f"/api/v1/{endpoint}", files={"file": ("f.csv", renamed(content), "text/csv")})
        assert answer.status_code == 202, answer.text
        assert all(u.status == "processed" for u in process_pending(settings))

    past_snapshot = make_snapshot_csv(past.period_id, past.end_date, today=TODAY, students=STUDENTS)
    upload(past_snapshot)
    upload(final_grades_for(past.period_id, today=TODAY, students=STUDENTS), "final-grades")
    assert train(settings).success  # dbt marts and an MLflow run
    day = current.start_date + (current.end_date - current.start_date) // 2
    snapshot = renamed(make_snapshot_csv(current.period_id, day, today=TODAY, students=STUDENTS))
    courses = sorted(set(pd.read_csv(io.BytesIO(snapshot)).query("user_id == @TARGET")["course_id"]))
    assert courses, "the student takes a course this term"
    upload(make_snapshot_csv(current.period_id, day, today=TODAY, students=STUDENTS))
    for course_id in courses:
        report(settings, course_id, current.period_id, day)
    upload(final_grades_for(current.period_id, today=TODAY, students=STUDENTS), "final-grades")
    for course_id in courses:
        assert evaluate(settings, course_id, current.period_id).success
    before = {r.report_id: r.students for r in list_reports(engine)}
    some_report = list_reports(engine, courses[0])[0]
    assert client.get(f"/api/v1/reports/{some_report.report_id}?format=csv").status_code == 200
    # What else may name the id: a log line the platform wrote, and an error noted on an upload.
    (settings.resolved_home / "logs").mkdir(exist_ok=True)
    with (settings.resolved_home / "logs" / "platform.log").open("a") as log:
        log.write(json.dumps({"message": "something about", "user": TARGET}) + "\nkept line\n")
    with engine.connect() as conn:
        first_upload = conn.execute(sa.select(uploads.c.upload_id).order_by(uploads.c.seq)).scalars().first()
    note_upload_error(engine, first_upload, f"KeyError: '{TARGET}'")
    failed = ReportKey(courses[0], current.period_id, day + timedelta(days=1))
    queue(engine, [(failed, scheduled_key(failed))])
    task = find_task(engine, scheduled_key(failed))
    assert task is not None
    mark_failed(engine, task, f"KeyError: '{TARGET}'", RetryPolicy(3, timedelta(0)))

    held = places_holding(TARGET, settings, engine, dagster_home)
    assert any("landing" in p for p in held) and any("reports" in p for p in held), held
    assert any("student_records" in p for p in held) and any("record_history" in p for p in held), held
    assert any("report_tasks" in p for p in held), held

    erased = client.delete(f"/api/v1/students/{TARGET}")
    assert erased.status_code == 200, erased.text
    removed = erased.json()["removed"]
    enrolments = len(courses) + int((pd.read_csv(io.BytesIO(renamed(past_snapshot)))["user_id"] == TARGET).sum())
    assert removed["rows:student_records"] == enrolments and removed["rows:final_grades"] == enrolments
    assert removed["landing:files_rewritten"] == 4 and removed["reports"] == len(courses)
    assert removed["evaluations"] == len(courses) and removed["log_lines"] == 1

    assert places_holding(TARGET, settings, engine, dagster_home) == []
    print(f"\nerasure removed ({engine.dialect.name}): {json.dumps(removed)}")

    # Everyone else is still there; the files and their registry agree.
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(student_records.c.user_id == NEIGHBOUR)).scalar_one()
        assert conn.execute(sa.select(sa.func.count()).where(record_versions.c.user_id == NEIGHBOUR)).scalar_one()
        assert conn.execute(sa.select(sa.func.count()).where(final_grades.c.user_id == NEIGHBOUR)).scalar_one()
        registry = conn.execute(sa.select(uploads.c.landing_sha256, uploads.c.rows)).all()
    for sha, rows in registry:
        assert pq.read_metadata(store.path_for(sha)).num_rows == rows
    after = list_reports(engine)
    assert {r.report_id for r in after} == set(before)  # the same reports, re-rendered
    for record in after:
        rows = json.loads(record.file(settings.reports_dir, "json").read_text())["rows"]
        if record.course_id in courses:
            assert record.students == before[record.report_id] - 1 == len(rows)
            assert sum(record.band_counts.values()) == record.students
        csv_text = record.file(settings.reports_dir, "csv").read_text()
        assert TARGET not in csv_text and len(csv_text.splitlines()) == record.students + 1
    for course_id in courses:
        evaluation = json.loads(
            evaluation_paths(settings.reports_dir, course_id, current.period_id)["json"].read_text()
        )
        assert TARGET not in evaluation["lead_time"]["first_flags"] and evaluation["reports"]

    # Recorded: who, where, how many; the id only as a keyed hash.
    [record] = list_erasures(engine, scope="student")
    assert record.actor.startswith("token:") and record.subject_hash == erasure_hash(settings, TARGET)
    assert record.counts == removed
    with engine.connect() as conn:
        assert TARGET not in json.dumps([list(map(str, r)) for r in conn.execute(sa.select(erasures))])
    listed = client.get("/api/v1/erasures").json()
    assert listed[0]["subject_hash"] == record.subject_hash
    # Erasing again finds nothing more; the pipeline still runs.
    again = client.delete(f"/api/v1/students/{TARGET}").json()["removed"]
    assert not any(k.startswith(("rows:", "landing:", "reports")) for k in again), again
    assert report(settings, courses[0], current.period_id, day).students == before[some_report.report_id] - 1
