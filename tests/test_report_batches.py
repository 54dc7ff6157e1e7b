"""A report day's courses are made in batches: a course that fails fails alone and is retried alone, a batch whose
run crashed is relaunched for the courses it had not made, and a report made in a batch equals one made alone."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from conftest import DataDrivenModel, alert_on_run_failure, make_report_batch
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from passcompass_assets.core.drift import course_drift
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.service import generate_report, report_period
from passcompass_assets.core.reports.store import ReportRecord, report_on
from passcompass_assets.core.reports.tasks import batch_tasks, course_tasks, find_task, queue, scheduled_key
from passcompass_assets.core.settings import Settings
from passcompass_assets.reporting import period_reports, report_sensor
from passcompass_assets.reporting.assets import BATCH_TAG, LANE_TAG
from passcompass_assets.reporting.partitions import REPORT_DAYS
from passcompass_assets.resources import ModelResource, PlatformResource
from passcompass_assets.work import ITEMS_TAG

REPO = Path(__file__).resolve().parents[1]
PERIOD = "autumn"
DAY = date.today()


class FixedModel(ModelResource):
    def load(self) -> DataDrivenModel:  # type: ignore[override]
        return DataDrivenModel()


class DatabaseGoneModel(DataDrivenModel):
    """Scores the first course, then finds the database gone: a failure no course escapes."""

    calls = 0

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        DatabaseGoneModel.calls += 1
        if DatabaseGoneModel.calls > 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return super().score(frame)


class CrashingModel(ModelResource):
    def load(self) -> DataDrivenModel:  # type: ignore[override]
        DatabaseGoneModel.calls = 0
        return DatabaseGoneModel()


def enrol(engine: Engine, store: LandingStore, course: str, students: int = 6, withdrawn: bool = False) -> None:
    """``students`` of the course on the report day; all withdrawn (nobody left to report on) when asked."""
    status = "withdrawn" if withdrawn else "enrolled"
    rows = "\n".join(
        f"{course}-s{i},{course},{PERIOD},{DAY.isoformat()},{i * 2},{18 - i},{status}" for i in range(students)
    )
    header = "user_id,course_id,period_id,as_of_date,absences,interim_grade_1,enrolment_status"
    apply_upload(engine, store, receive_upload(engine, store, f"{header}\n{rows}\n".encode()).upload_id)


@pytest.fixture
def term(engine: Engine) -> Period:
    period = Period(PERIOD, DAY - timedelta(weeks=7), DAY + timedelta(weeks=6), 3)
    upsert_period(engine, period)
    return period


def run_request(
    instance: dg.DagsterInstance, request: dg.RunRequest, model: ModelResource
) -> dg.ExecuteInProcessResult:
    """Execute a run the report sensor asked for, in process, recorded in ``instance`` as the daemon would."""
    instance.add_dynamic_partitions(REPORT_DAYS, [str(request.partition_key)])
    return dg.materialize(
        [period_reports],
        partition_key=request.partition_key,
        instance=instance,
        resources={"platform": PlatformResource(), "model": model},
        tags=request.tags,
        raise_on_error=False,
    )


def sensor_runs(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()})
    return list(report_sensor(context).run_requests or [])


def test_a_failing_course_fails_alone_and_is_retried_alone(engine, store, settings, term, webhook, monkeypatch) -> None:
    (host, port), alerts = webhook
    monkeypatch.setenv("PASSCOMPASS_ALERT_WEBHOOK_URL", f"http://{host}:{port}/alerts")
    monkeypatch.setenv("PASSCOMPASS_RETRY_BACKOFF_SECONDS", "0")
    for course in ("art", "math"):
        enrol(engine, store, course)
    enrol(engine, store, "gone", withdrawn=True)  # nobody left on the day: its report cannot be made
    keys = [ReportKey(course, PERIOD, DAY) for course in ("art", "gone", "math")]
    with dg.instance_for_test() as instance:
        result, batch_id = make_report_batch(engine, keys, FixedModel(), instance, work_prefix="report")
        assert result.success  # the other courses' reports were made
        assert report_on(engine, "art", PERIOD, DAY) and report_on(engine, "math", PERIOD, DAY)
        assert report_on(engine, "gone", PERIOD, DAY) is None
        observed = {
            o.metadata["course_id"].value: o.metadata for o in result.asset_observations_for_node("period_reports")
        }
        assert {course: m["status"].value for course, m in observed.items()} == {
            "art": "made",
            "gone": "failed",
            "math": "made",
        }
        assert "no enrolled students" in observed["gone"]["error"].value and observed["gone"]["will_retry"].value
        [failed] = course_tasks(engine, "gone")
        assert failed.status == "failed" and failed.failures == 1 and not failed.given_up

        # The retry makes the failed course alone, in a batch of its own, until its attempts run out.
        for attempt in (2, 3):
            [request] = sensor_runs(instance)
            retried = batch_tasks(engine, request.tags[BATCH_TAG])
            assert [task.course_id for task in retried] == ["gone"] and request.tags[BATCH_TAG] != batch_id
            assert request.tags[LANE_TAG] == "single"
            failed_run = run_request(instance, request, FixedModel())
            assert not failed_run.success  # its only course failed
            assert find_task(engine, retried[0].work_key).failures == attempt
            run = instance.get_run_by_id(failed_run.run_id)
            assert run is not None and run.tags.get(ITEMS_TAG) == "true"  # its course's failure is the ledger's
            last, message = attempt == 3, str(failed_run.get_step_failure_events()[0].step_failure_data.error)
            assert f"{int(not last)} to be retried on its own, {int(last)} given up" in message
            alert_on_run_failure(instance, failed_run)  # the ledger speaks for the course, not the run
        assert sensor_runs(instance) == []
    [given_up] = course_tasks(engine, "gone")
    assert given_up.status == "failed" and given_up.given_up and "no enrolled students" in str(given_up.error)
    assert [a["event"] for a in alerts] == ["report_failed"] and "after 3 attempt(s)" in alerts[0]["text"]
    assert all(
        task.status == "done" and task.failures == 0 for c in ("art", "math") for task in course_tasks(engine, c)
    )


def test_a_crashed_batch_is_relaunched_for_the_courses_it_had_not_made(engine, store, term, monkeypatch) -> None:
    monkeypatch.setenv("PASSCOMPASS_RETRY_BACKOFF_SECONDS", "0")
    courses = ["art", "bio", "math"]
    for course in courses:
        enrol(engine, store, course)
    keys = [ReportKey(course, PERIOD, DAY) for course in courses]
    queue(engine, [(key, scheduled_key(key)) for key in keys])  # as the daily tick queues a report day
    with dg.instance_for_test() as instance:
        [request] = sensor_runs(instance)
        assert request.tags[LANE_TAG] == "batch" and request.run_key.endswith("#1")
        crashed = run_request(instance, request, CrashingModel())
        assert not crashed.success  # the database went away after the first course: the run fails whole
        made_first = report_on(engine, "art", PERIOD, DAY)
        assert made_first is not None
        assert [t.course_id for t in batch_tasks(engine, request.tags[BATCH_TAG])] == ["bio", "math"]

        [again] = sensor_runs(instance)  # the same batch, its second attempt
        assert again.tags[BATCH_TAG] == request.tags[BATCH_TAG] and again.run_key.endswith("#2")
        assert run_request(instance, again, FixedModel()).success
        assert sensor_runs(instance) == []
    assert all(report_on(engine, c, PERIOD, DAY) for c in courses)
    assert report_on(engine, "art", PERIOD, DAY).generated_at == made_first.generated_at  # not made twice


def _files(record: ReportRecord, settings: Settings) -> dict[str, object]:
    """A report's files, without the moment it was made."""
    content = json.loads(record.file(settings.reports_dir, "json").read_text())
    content.pop("generated_at", None)
    content.get("header", {}).pop("generated_at", None)
    return {"csv": record.file(settings.reports_dir, "csv").read_text(), "json": content}


def test_a_report_made_in_a_batch_equals_one_made_alone(engine, store, settings, term) -> None:
    courses = ["art", "bio", "math"]
    for course in courses:
        enrol(engine, store, course, students=12)
    keys = [ReportKey(course, PERIOD, DAY) for course in courses]
    with dg.instance_for_test() as instance:
        result, _ = make_report_batch(engine, keys, FixedModel(), instance, work_prefix="batch")
        assert result.success
        in_batch = {c: _files(report_on(engine, c, PERIOD, DAY), settings) for c in courses}
        # One course alone, as a request's run makes it; then the way a report was made before batches: drift in
        # one step, the report in another, each reading the course's students itself.
        alone, _ = make_report_batch(engine, [keys[1]], FixedModel(), instance, work_prefix="alone")
        assert alone.success
    assert _files(report_on(engine, "bio", PERIOD, DAY), settings) == in_batch["bio"]
    period = report_period(engine, PERIOD, "math", DAY)
    drift = course_drift(engine, settings.reports_dir, "math", period, DAY, settings.drift_share_threshold)
    record = generate_report(engine, settings, DataDrivenModel(), "math", PERIOD, DAY, drift.as_dict())
    assert _files(record, settings) == in_batch["math"]


def test_the_run_queue_keeps_a_slot_for_an_on_demand_report() -> None:
    """Batches are limited below the run queue's size on every instance configuration, so an on-demand report (a
    batch of one, not limited and first by priority) starts while a report day's batches run."""
    for path in (REPO / "dagster.yaml", REPO / "deploy" / "dagster.yaml"):
        config = yaml.safe_load(path.read_text())["run_coordinator"]["config"]
        [limit] = [t for t in config["tag_concurrency_limits"] if t["key"] == LANE_TAG and t["value"] == "batch"]
        assert limit["limit"] < config["max_concurrent_runs"], path
        assert config["dequeue_interval_seconds"] == 1, path  # an on-demand run waits a second, not five
    chart = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    queued = chart["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    [limit] = [t for t in queued["tagConcurrencyLimits"] if t["key"] == LANE_TAG and t["value"] == "batch"]
    assert limit["limit"] < queued["maxConcurrentRuns"] and queued["dequeueIntervalSeconds"] == 1
