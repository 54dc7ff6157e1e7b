"""The report schedule and the report-request sensor, evaluated with Dagster's test contexts at chosen dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from passcompass_assets.core.cadence import next_report_date, report_dates, report_number, week_of_term
from passcompass_assets.core.db.tables import report_tasks
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.tasks import course_tasks
from passcompass_assets.reporting import report_schedule, report_sensor
from passcompass_assets.reporting.assets import LANE_TAG
from passcompass_assets.resources import PlatformResource

START = date(2026, 9, 7)  # a Monday
END = START + timedelta(weeks=13)


@pytest.mark.parametrize(
    ("cadence", "weeks"),
    [(2, [2, 4, 6, 8, 10, 12]), (3, [3, 6, 9, 12]), (4, [4, 8, 12])],
)
def test_report_dates_of_a_13_week_period(cadence, weeks):
    period = Period("p", START, END, cadence)
    assert report_dates(period) == [START + timedelta(weeks=w) for w in weeks] + [END]
    assert report_number(period, START + timedelta(weeks=weeks[1])) == 2
    # The README's weeks 3, 6, 9: the day that closes week N is week N; the day after it, week N + 1.
    assert week_of_term(period, START + timedelta(weeks=cadence)) == cadence
    assert week_of_term(period, START + timedelta(weeks=cadence, days=1)) == cadence + 1
    assert week_of_term(period, START) == week_of_term(period, START + timedelta(days=7)) == 1
    assert next_report_date(period, START) == START + timedelta(weeks=cadence)
    assert next_report_date(period, END + timedelta(days=1)) is None


def enrol(engine, store, course: str, period_id: str) -> None:
    receipt = receive_upload(engine, store, f"user_id,course_id,period_id\ns1,{course},{period_id}\n".encode())
    apply_upload(engine, store, receipt.upload_id)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def evaluate(engine, instance: dg.DagsterInstance, day: date) -> list[str]:
    """The day's tick; the keys of the course reports it queued (the report sensor makes them)."""
    before = queued_keys(engine)
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(day.year, day.month, day.day, 6, tzinfo=UTC),
        resources={"platform": PlatformResource()},
    )
    assert isinstance(report_schedule(context), dg.SkipReason)  # it queues; the sensor launches
    return sorted(key.removeprefix("report:") for key in queued_keys(engine) - before)


def queued_keys(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(report_tasks.c.work_key)).scalars())


@pytest.mark.parametrize("cadence", [2, 3, 4])
def test_schedule_requests_on_cadence_days_only(engine, store, instance, cadence):
    period = Period("autumn", START, END, cadence)
    upsert_period(engine, period)
    enrol(engine, store, "math", "autumn")
    enrol(engine, store, "bio", "autumn")
    # Every report date, the days around each, the first days of the term and the days after its end.
    around = {d + timedelta(days=k) for d in report_dates(period) for k in (-1, 0, 1)}
    days = sorted(around | {START - timedelta(days=1), START, START + timedelta(days=1), END + timedelta(weeks=3)})
    queued_days = [d for d in days if evaluate(engine, instance, d)]
    assert queued_days == report_dates(period)
    day = START + timedelta(weeks=cadence)
    assert sorted(key for key in queued_keys(engine) if key.endswith(day.isoformat())) == [
        f"report:bio|autumn|{day}",
        f"report:math|autumn|{day}",
    ]
    # Idempotent: a repeated tick queues nothing more.
    assert evaluate(engine, instance, day) == []


def test_nothing_before_the_first_cadence_or_after_the_end(engine, store, instance):
    upsert_period(engine, Period("autumn", START, END, 3))
    enrol(engine, store, "math", "autumn")
    assert evaluate(engine, instance, START) == []
    assert evaluate(engine, instance, START + timedelta(weeks=2)) == []
    assert len(evaluate(engine, instance, END)) == 1
    assert evaluate(engine, instance, END + timedelta(weeks=3)) == []


def test_overlapping_periods_each_on_their_own_cadence(engine, store, instance):
    upsert_period(engine, Period("long", START, END, 3))
    upsert_period(engine, Period("short", START + timedelta(weeks=3), START + timedelta(weeks=9), 2))
    enrol(engine, store, "math", "long")
    enrol(engine, store, "art", "short")
    day = START + timedelta(weeks=9)  # long: week 9 cadence; short: its last day
    assert evaluate(engine, instance, day) == [f"art|short|{day}", f"math|long|{day}"]
    only_short = START + timedelta(weeks=5)
    assert evaluate(engine, instance, only_short) == [f"art|short|{only_short}"]


def test_the_report_sensor_runs_each_request_until_done(client, engine, store, instance, default_period):
    enrol(engine, store, "math", "default")
    first = client.post("/api/v1/reports", params={"course_id": "math"}).json()
    context = dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()})
    [request] = report_sensor(context).run_requests
    [task] = course_tasks(engine, "math")
    assert task.request_id == first["request_id"] and task.batch_id
    assert request.run_key == f"report-batch:{task.batch_id}#1"
    assert request.partition_key == f"default|{date.today()}"
    # A batch of one is an on-demand report: the run queue takes it first and never counts it as a batch.
    assert request.tags[LANE_TAG] == "single" and request.tags["dagster/priority"] == "1"
    second = client.post("/api/v1/reports", params={"course_id": "math"}).json()
    # Both are still to make (no run made a report yet), each in its own batch.
    runs = report_sensor(context).run_requests
    assert [r.run_key for r in runs] == [f"report-batch:{t.batch_id}#1" for t in reversed(course_tasks(engine, "math"))]
    assert {t.request_id for t in course_tasks(engine, "math")} == {first["request_id"], second["request_id"]}
