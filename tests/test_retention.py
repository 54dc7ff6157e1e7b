"""Retention, on SQLite and PostgreSQL, through the scheduled Dagster job: a period ended longer ago than
``PASSCOMPASS_RETENTION_DAYS`` loses its student-level data everywhere (records and their history, final grades,
landed rows, report rows, evaluation first flags, drift pages, the report ledger); its aggregates stay (report
counts, evaluation summaries); the current period is untouched; the access log keeps its own retention. Unset:
nothing is purged.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pyarrow.compute as pc
import sqlalchemy as sa

from passcompass_assets.core.access.audit import list_access, record_access
from passcompass_assets.core.db.tables import (
    access_log,
    final_grades,
    record_versions,
    report_requests,
    report_tasks,
    student_records,
    uploads,
)
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.privacy.erasure import list_erasures
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.outcomes import Evaluation, LeadTime, evaluation_paths, store_evaluation
from passcompass_assets.core.reports.store import get_report, store_report
from passcompass_assets.core.reports.tasks import (
    find_task,
    mark_done,
    mark_failed,
    queue,
    request_key,
    scheduled_key,
    task_values,
)
from passcompass_assets.core.retry import RetryPolicy
from passcompass_assets.definitions import defs

TODAY = datetime.now(UTC).date()
OLD = Period("old-term", TODAY - timedelta(days=150), TODAY - timedelta(days=40), 3)
NOW = Period("this-term", TODAY - timedelta(days=30), TODAY + timedelta(days=60), 3)


def count(engine, table, period_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(table.c.period_id == period_id)).scalar_one()


def landed_rows(engine, store, period_id: str) -> int:
    with engine.connect() as conn:
        registry = conn.execute(sa.select(uploads.c.landing_sha256, uploads.c.rows)).all()
    total = 0
    for sha, rows in registry:
        table = store.get_table(sha)
        assert table.num_rows == rows
        total += pc.sum(pc.equal(table.column("period_id"), period_id)).as_py() or 0
    return total


def run_retention_job() -> dict:
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("retention_job").execute_in_process(instance=instance)
        assert result.success
        [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
        return {k: v.value for k, v in output.event_specific_data.metadata.items()}


def seed(engine, store, settings) -> str:
    for period in (OLD, NOW):
        upsert_period(engine, period)
    both = f"user_id,course_id,period_id,age\nold-1,bio,{OLD.period_id},17\nold-2,bio,{OLD.period_id},18\n"
    both += f"now-1,bio,{NOW.period_id},19\n"
    apply_upload(engine, store, receive_upload(engine, store, both.encode()).upload_id)
    grades = f"user_id,course_id,period_id,final_grade\nold-1,bio,{OLD.period_id},8\nold-2,bio,{OLD.period_id},14\n"
    apply_upload(engine, store, receive_upload(engine, store, grades.encode(), kind="final_grades").upload_id)
    scored = pd.DataFrame(
        {
            "user_id": ["old-1", "old-2"],
            "fail_probability": [0.8, 0.1],
            "predicted_final_grade": [7.0, 15.0],
            "top_factors": ["", ""],
            "signals_available": ["no interim grade yet"] * 2,
        }
    )
    report = build_report(
        scored, course_id="bio", period=OLD, as_of=OLD.end_date, model=None, risk_high=0.5, risk_medium=0.25
    )
    report_id = store_report(engine, settings.reports_dir, report)
    lead = LeadTime(1, 1, 1.0, 2.0, {"old-1": OLD.end_date.isoformat()})
    store_evaluation(settings.reports_dir, Evaluation("bio", OLD.period_id, TODAY.isoformat(), 2, 0.5, [], lead))
    drift = settings.reports_dir / "drift"
    drift.mkdir(parents=True, exist_ok=True)
    (drift / f"bio_{OLD.period_id}_{OLD.end_date.isoformat()}.html").write_text("<html>old-1</html>")
    (drift / f"bio_{NOW.period_id}_{TODAY.isoformat()}.html").write_text("<html>now</html>")
    seed_ledger(engine, report_id)
    record_access(engine, "token:aaaaaaaaaaaa", "report.download", f"report:{report_id}", "bio")
    record_access(engine, "token:bbbbbbbbbbbb", "report.download", f"report:{report_id}", "bio")
    with engine.begin() as conn:
        old = access_log.update().where(access_log.c.principal == "token:aaaaaaaaaaaa")
        conn.execute(old.values(at=datetime.now(UTC) - timedelta(days=400)))
    return report_id


MADE = ReportKey("bio", OLD.period_id, OLD.end_date)
GIVEN_UP = ReportKey("chem", OLD.period_id, OLD.end_date)
ASKED = ReportKey("bio", OLD.period_id, OLD.end_date - timedelta(days=1))


def seed_ledger(engine, report_id: str) -> None:
    """The old period's report ledger: a course made, one given up (its error quoting a student by accident), and
    a request still waiting for its answer."""
    queue(engine, [(MADE, scheduled_key(MADE)), (GIVEN_UP, scheduled_key(GIVEN_UP))])
    mark_done(engine, scheduled_key(MADE), report_id)
    given_up = find_task(engine, scheduled_key(GIVEN_UP))
    assert given_up is not None
    mark_failed(engine, given_up, "no scale for old-1", RetryPolicy(1, timedelta(0)), final=True)
    values = {"request_id": "r-1", "course_id": "bio", "period_id": OLD.period_id, "requested_at": datetime.now(UTC)}
    with engine.begin() as conn:
        conn.execute(report_requests.insert().values(values))
        conn.execute(report_tasks.insert().values(task_values(ASKED, request_key("r-1"), "r-1")))
    mark_done(engine, request_key("r-1"), report_id)


def ledger(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(report_tasks.c.work_key)).scalars())


def test_retention_purges_old_periods_and_keeps_aggregates(settings, engine, store, monkeypatch):
    report_id = seed(engine, store, settings)
    before = get_report(engine, report_id)
    assert before is not None

    # Unset (the default): student data is kept; the access log's own retention still applies.
    first = run_retention_job()
    assert first["periods_purged"] == {} and first["access_log_entries_removed"] == 1
    assert count(engine, student_records, OLD.period_id) == 2 and landed_rows(engine, store, OLD.period_id) == 4

    monkeypatch.setenv("PASSCOMPASS_RETENTION_DAYS", "30")
    purged = run_retention_job()
    assert list(purged["periods_purged"]) == [OLD.period_id]
    for table in (student_records, record_versions, final_grades):
        assert count(engine, table, OLD.period_id) == 0, table.name
    assert landed_rows(engine, store, OLD.period_id) == 0
    assert count(engine, student_records, NOW.period_id) == 1 and landed_rows(engine, store, NOW.period_id) == 1

    after = get_report(engine, report_id)
    assert after is not None and after.students == before.students == 2 and after.band_counts == before.band_counts
    stored = json.loads(after.file(settings.reports_dir, "json").read_text())
    assert stored["rows"] == [] and stored["students"] == 2 and stored["student_rows_purged_at"]
    assert after.file(settings.reports_dir, "csv").read_text().count("\n") <= 1
    assert "old-1" not in after.file(settings.reports_dir, "html").read_text()
    evaluation = json.loads(evaluation_paths(settings.reports_dir, "bio", OLD.period_id)["json"].read_text())
    assert evaluation["lead_time"]["first_flags"] == {} and evaluation["lead_time"]["failed_students"] == 1
    assert evaluation["failure_rate"] == 0.5
    drift_pages = sorted(p.name for p in (settings.reports_dir / "drift").iterdir())
    assert drift_pages == [f"bio_{NOW.period_id}_{TODAY.isoformat()}.html"]
    # The period's report ledger goes with it, but a request not yet answered keeps its task (and its answer).
    assert ledger(engine) == [request_key("r-1")]
    assert purged["periods_purged"][OLD.period_id]["report_tasks"] == 2
    [record] = list_erasures(engine, scope="retention")
    assert record.period_id == OLD.period_id and record.actor == "retention" and record.subject_hash is None
    assert [e.principal for e in list_access(engine)] == ["token:bbbbbbbbbbbb"]
    for path in settings.resolved_home.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert b"old-1" not in path.read_bytes(), path

    # Nothing left: the next day's run purges nothing; data arriving late for the period is purged again.
    assert run_retention_job()["already_purged"] == [OLD.period_id]
    late = f"user_id,course_id,period_id,age\nold-3,bio,{OLD.period_id},20\n"
    apply_upload(engine, store, receive_upload(engine, store, late.encode()).upload_id)
    assert list(run_retention_job()["periods_purged"]) == [OLD.period_id]
    assert count(engine, student_records, OLD.period_id) == 0 and landed_rows(engine, store, OLD.period_id) == 0
    assert count(engine, student_records, NOW.period_id) == 1
    assert date.fromisoformat(NOW.end_date.isoformat()) > TODAY  # the current period was never a candidate
