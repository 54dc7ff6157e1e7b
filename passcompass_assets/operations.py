"""Operator actions run in process through the same Dagster jobs the sensors and schedules launch.

They record their runs in the platform's Dagster instance (``DAGSTER_HOME``), so they show in the UI as well,
with the same alerts and metadata as a run the daemon launched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from passcompass_assets.core.actions import record_action
from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.courses import course_ids
from passcompass_assets.core.datasets.demo import DEMO_ACTOR, demo_actions, generate_demo
from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import Upload, UploadPolicy, find_upload, mark_upload, pending_uploads
from passcompass_assets.core.keys import CoursePeriod, ReportKey
from passcompass_assets.core.periods import Period, active_periods, upsert_period
from passcompass_assets.core.reports.requests import reportable_period
from passcompass_assets.core.reports.store import ReportRecord, list_reports
from passcompass_assets.core.reports.term import report_rows
from passcompass_assets.core.settings import Settings
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion.assets import UPLOADS_PARTITIONS
from passcompass_assets.ingestion.sensors import ingest_work
from passcompass_assets.instance import prepare_home
from passcompass_assets.monitoring.partitions import EVALUATION_PARTITIONS
from passcompass_assets.reporting.partitions import REPORT_PARTITIONS
from passcompass_assets.work import ATTEMPT_TAG, WORK_TAG, attempts


@dataclass(frozen=True)
class JobOutcome:
    success: bool
    metadata: dict[str, object]  # the materialisations' metadata, by asset name


def execute(
    job_name: str, partition_key: str | None = None, partitions: str | None = None, work: str | None = None
) -> JobOutcome:
    """Run a job of the one ``Definitions`` in this process, recorded in the platform's Dagster instance; ``work``
    tags the run with the piece of work it does (as the sensors do), so they see it in progress or done."""
    with dg.DagsterInstance.get() as instance:
        if partition_key and partitions:
            instance.add_dynamic_partitions(partitions, [partition_key])
        tags = {WORK_TAG: work, ATTEMPT_TAG: str(attempts(instance, work).failures + 1)} if work else None
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(partition_key=partition_key, instance=instance, raise_on_error=False, tags=tags)
    metadata: dict[str, object] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    return JobOutcome(result.success, metadata)


def process_pending(settings: Settings, progress: Callable[[int, int], None] | None = None) -> list[Upload]:
    """Run the ingestion job the upload sensor would launch, once, for every received upload, oldest first;
    ``progress(done, total)`` after each. An upload whose run fails ends ``failed`` (an operator is watching)."""
    prepare_home(settings)
    engine = get_engine(settings.db_url)
    processed = []
    pending = pending_uploads(engine)
    for done, upload in enumerate(pending, start=1):
        if not execute(
            "ingest_upload", upload.upload_id, UPLOADS_PARTITIONS, ingest_work(upload.upload_id).key
        ).success:
            noted = find_upload(engine, upload.upload_id)
            if noted is not None and noted.status == "received":
                mark_upload(engine, upload.upload_id, "failed", noted.error or "the ingestion run failed")
        if progress:
            progress(done, len(pending))
        if (after := find_upload(engine, upload.upload_id)) is not None:
            processed.append(after)
    return processed


def train(settings: Settings) -> JobOutcome:
    """The retraining job: dbt features and training set, then a challenger through the quality gate."""
    prepare_home(settings)
    return execute("train_model")


def report(settings: Settings, course_id: str, period_id: str | None = None, as_of: date | None = None) -> ReportRecord:
    """One course report for ``as_of`` (default today) in the named, current or latest period of the course."""
    prepare_home(settings)
    engine = get_engine(settings.db_url)
    as_of = as_of or date.today()
    key = ReportKey(course_id, reportable_period(engine, course_id, period_id, as_of), as_of)
    if not execute("period_report", key.key, REPORT_PARTITIONS).success:
        raise RuntimeError(f"the report run for {key.key} failed: see the Dagster UI")
    return list_reports(engine, key.course_id, key.period_id)[0]


def evaluate(settings: Settings, course_id: str, period_id: str) -> JobOutcome:
    """The evaluation the final-grades sensor launches: every report of the course's period against its grades."""
    prepare_home(settings)
    return execute("report_evaluation_job", CoursePeriod(course_id, period_id).key, EVALUATION_PARTITIONS)


def load_demo(settings: Settings, today: date | None = None) -> int:
    """Generate the synthetic demo terms under home and register them as a client would: the periods, then every
    snapshot and final-grade file as an upload (the upload sensor, or :func:`process_pending`, applies them)."""
    today = today or date.today()
    engine = get_engine(settings.db_url)
    manifest = generate_demo(settings.resolved_home / "demo" / today.isoformat(), today=today)
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
    store, policy = LandingStore(settings.landing_dir), UploadPolicy.from_settings(settings)
    for demo_file in manifest.files:
        policy.receive(engine, store, demo_file.path.read_bytes(), kind=demo_file.kind, source="demo")
    return len(manifest.files)


def bootstrap_demo(settings: Settings, today: date | None = None, say: Callable[[str], None] = print) -> None:
    """A living platform from nothing: the demo terms ingested, a model trained, and for every course of the current
    term a report on each of its cadence dates so far and one as of today (later ones follow the schedule), with a
    few recorded actions on the highest-risk students."""
    today = today or date.today()
    prepare_home(settings)
    load_demo(settings, today)

    def ingested(done: int, total: int) -> None:
        if done % 5 == 0 or done == total:
            say(f"  ingested {done}/{total} uploads")

    process_pending(settings, ingested)
    say("  training the model (dbt features, cross-validation, quality gate)")
    train(settings)
    engine = get_engine(settings.db_url)
    # The term's cadence dates so far as well (point in time: each as it was known then), so the course pages show
    # risk moving over the term; then today's.
    due = [
        (period.period_id, c, day)
        for period in active_periods(engine, today)
        for c in course_ids(engine, period.period_id)
        for day in [*(d for d in report_dates(period) if d < today), today]
    ]
    for done, (period_id, course_id, day) in enumerate(due, start=1):
        say(f"  report {done}/{len(due)}: {course_id} as of {day.isoformat()}")
        made = report(settings, course_id, period_id, day)
        if day == today:
            record_demo_actions(settings, made)
    if due:
        say("  recorded a few demo actions on flagged students (the course pages show them)")


def record_demo_actions(settings: Settings, record: ReportRecord) -> int:
    """The demo's actions on the highest-risk students of ``record`` (core/datasets/demo.py); how many."""
    engine = get_engine(settings.db_url)
    now = datetime.now(UTC)
    ranked = report_rows(settings.reports_dir, record)["user_id"].tolist()  # highest risk first
    actions = demo_actions(ranked)
    for action in actions:
        record_action(
            engine,
            course_id=record.course_id,
            period_id=record.period_id,
            user_id=action.user_id,
            kind=action.kind,
            actor=DEMO_ACTOR,
            note=action.note,
            at=now - timedelta(days=action.days_ago),
        )
    return len(actions)
