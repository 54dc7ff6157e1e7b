"""Operator actions run in process through the same Dagster jobs the sensors and schedules launch.

They record their runs in the platform's Dagster instance (``DAGSTER_HOME``), so they show in the UI as well,
with the same alerts and metadata as a run the daemon launched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from sqlalchemy.engine import Engine

from passcompass_assets.core.actions import action_frame, record_action
from passcompass_assets.core.activity.store import activity_options, import_activity
from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.courses import course_ids, set_course
from passcompass_assets.core.datasets.demo import (
    DEMO_ACTOR,
    DemoAction,
    DemoFile,
    DemoManifest,
    demo_actions,
    generate_demo,
)
from passcompass_assets.core.datasets.loading import loading_demo
from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import Upload, UploadPolicy, find_upload, mark_upload, pending_uploads
from passcompass_assets.core.keys import CoursePeriod, ReportDay, ReportKey
from passcompass_assets.core.periods import Period, active_periods, list_periods, upsert_period
from passcompass_assets.core.reports.requests import reportable_period
from passcompass_assets.core.reports.store import ReportRecord, get_report
from passcompass_assets.core.reports.tasks import Batch, batch_of, find_task, queue
from passcompass_assets.core.reports.term import report_rows
from passcompass_assets.core.settings import Settings
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion.assets import UPLOADS_PARTITIONS
from passcompass_assets.ingestion.sensors import ingest_work
from passcompass_assets.instance import prepare_home
from passcompass_assets.monitoring.partitions import EVALUATION_PARTITIONS
from passcompass_assets.reporting.partitions import REPORT_DAYS
from passcompass_assets.reporting.schedules import batch_work
from passcompass_assets.work import ATTEMPT_TAG, WORK_TAG, attempts


@dataclass(frozen=True)
class JobOutcome:
    success: bool
    metadata: dict[str, object]  # the materialisations' metadata, by asset name


def execute(
    job_name: str,
    partition_key: str | None = None,
    partitions: str | None = None,
    work: str | None = None,
    tags: dict[str, str] | None = None,
) -> JobOutcome:
    """Run a job of the one ``Definitions`` in this process, recorded in the platform's Dagster instance; ``work``
    tags the run with the piece of work it does (as the sensors do), so they see it in progress or done."""
    with dg.DagsterInstance.get() as instance:
        if partition_key and partitions:
            instance.add_dynamic_partitions(partitions, [partition_key])
        if work:
            tags = {**(tags or {}), WORK_TAG: work, ATTEMPT_TAG: str(attempts(instance, work).failures + 1)}
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
    as_of = as_of or date.today()
    period_id = reportable_period(get_engine(settings.db_url), course_id, period_id, as_of)
    return report_day(settings, period_id, as_of, [course_id])[0]


def report_day(settings: Settings, period_id: str, day: date, course_ids: list[str]) -> list[ReportRecord]:
    """The reports of these courses of a period on ``day``, made as one batch by the report job in this process
    (as the report sensor's run makes them); :class:`RuntimeError` naming the courses that failed and why."""
    prepare_home(settings)
    engine = get_engine(settings.db_url)
    work = {course_id: f"manual:{uuid.uuid4()}" for course_id in course_ids}
    queue(engine, [(ReportKey(course_id, period_id, day), key) for course_id, key in work.items()])
    batch = batch_work(Batch(batch_of(engine, list(work.values())), ReportDay(period_id, day), len(work)))
    ran = execute(batch.job_name, batch.partition_key, REPORT_DAYS, batch.key, batch.tags)
    tasks = {course_id: find_task(engine, key) for course_id, key in work.items()}
    made = {c: get_report(engine, t.report_id) for c, t in tasks.items() if t is not None and t.report_id}
    failed = [f"{c}: {t.error if t and t.error else 'see the Dagster UI'}" for c, t in tasks.items() if c not in made]
    if failed or not ran.success:
        why = "; ".join(failed) or "the run failed around them: see the Dagster UI"
        raise RuntimeError(f"reports of {period_id} on {day} failed: {why}")
    return [record for record in made.values() if record is not None]


def evaluate(settings: Settings, course_id: str, period_id: str) -> JobOutcome:
    """The evaluation the final-grades sensor launches: every report of the course's period against its grades."""
    prepare_home(settings)
    return execute("report_evaluation_job", CoursePeriod(course_id, period_id).key, EVALUATION_PARTITIONS)


def _demo_terms(settings: Settings, today: date) -> DemoManifest:
    """Generate the demo terms under home and declare their periods and courses (scale and title, as a data officer
    would); the files are not received yet."""
    engine = get_engine(settings.db_url)
    manifest = generate_demo(settings.resolved_home / "demo" / today.isoformat(), today=today)
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
        for course in manifest.courses:
            set_course(engine, course.course_id, period.period_id, manifest.grade_max, manifest.pass_mark, course.title)
    return manifest


def _receive(settings: Settings, files: list[DemoFile]) -> int:
    engine = get_engine(settings.db_url)
    store, policy = LandingStore(settings.landing_dir), UploadPolicy.from_settings(settings)
    for demo_file in files:
        policy.receive(engine, store, demo_file.path.read_bytes(), kind=demo_file.kind, source="demo")
    return len(files)


def _count_activity(settings: Settings, files: list[DemoFile]) -> None:
    engine = get_engine(settings.db_url)
    for demo_file in files:
        with demo_file.path.open("rb") as log:
            import_activity(engine, log, "generic", **activity_options(settings))


def load_demo(settings: Settings, today: date | None = None) -> int:
    """Generate the synthetic demo terms under home and register them as a client would: the periods, then every
    snapshot and final-grade file as an upload (the upload sensor, or :func:`process_pending`, applies them)."""
    with loading_demo(settings.resolved_home):
        manifest = _demo_terms(settings, today or date.today())
        _count_activity(settings, manifest.activity)
        return _receive(settings, manifest.files)


def bootstrap_demo(settings: Settings, today: date | None = None, say: Callable[[str], None] = print) -> None:
    """A living platform from nothing, the whole loop replayed: last term as it ran (a first model from what was
    known before it, a report per cadence date, staff acting on the flagged students), its final grades (how right
    were the reports? did help help?), a model retrained on them; then every course of the current term with a
    report on each of its cadence dates so far and one as of today, and a few recorded actions."""
    prepare_home(settings)
    with loading_demo(settings.resolved_home):  # the home page says the demo is loading meanwhile
        _bootstrap_demo(settings, today or date.today(), say)


def _bootstrap_demo(settings: Settings, today: date, say: Callable[[str], None]) -> None:
    engine = get_engine(settings.db_url)
    manifest = _demo_terms(settings, today)
    _count_activity(settings, manifest.activity)
    held = [f for f in manifest.files if f.kind == "final_grades"]  # last term's grades arrive at its end

    def ingested(done: int, total: int) -> None:
        if done % 5 == 0 or done == total:
            say(f"  ingested {done}/{total} uploads")

    _receive(settings, [f for f in manifest.files if f not in held])
    process_pending(settings, ingested)
    past = manifest.past.period_id
    say("  last term as it ran: a first model from what was known before it (the public prior, if any)")
    train(settings)
    reported = _term_reports(settings, engine, past, None, say)
    for record in _first_reports(reported):
        record_demo_actions(settings, record, flagged_only=True)
    _receive(settings, held)
    process_pending(settings, ingested)
    for course_id in sorted({r.course_id for r in reported}):
        say(f"  how right were last term's reports? evaluating {course_id}")
        evaluate(settings, course_id, past)
    say("  training the model on last term's final grades (dbt features, validation, quality gate)")
    train(settings)
    current = [p for p in active_periods(engine, today) if p.period_id != past]
    made = [r for period in current for r in _term_reports(settings, engine, period.period_id, today, say)]
    for record in made:
        if record.report_date == today:
            record_demo_actions(settings, record)
    if made:
        say("  recorded a few demo actions on flagged students (the course pages show them)")


def _term_reports(
    settings: Settings, engine: Engine, period_id: str, today: date | None, say: Callable[[str], None]
) -> list[ReportRecord]:
    """A report per course on each cadence date of the period (up to ``today``, and one as of today); each as it
    was known then (point in time). None when no model could be trained."""
    period = next((p for p in list_periods(engine) if p.period_id == period_id), None)
    if period is None:
        return []
    days = [d for d in report_dates(period) if today is None or d < today] + ([today] if today else [])
    due = [(c, day) for c in course_ids(engine, period_id) for day in days]
    made = []
    for done, (course_id, day) in enumerate(due, start=1):
        say(f"  report {done}/{len(due)}: {course_id} as of {day.isoformat()}")
        try:
            made.append(report(settings, course_id, period_id, day))
        except RuntimeError:
            say("  no model to report with (no data to learn from yet): skipped")
            return made
    return made


def _first_reports(records: list[ReportRecord]) -> list[ReportRecord]:
    """Each course's first two reports: staff act on what they flag."""
    by_course: dict[str, list[ReportRecord]] = {}
    for record in sorted(records, key=lambda r: r.report_date):
        by_course.setdefault(record.course_id, []).append(record)
    return [r for records in by_course.values() for r in records[:2]]


def record_demo_actions(settings: Settings, record: ReportRecord, *, flagged_only: bool = False) -> int:
    """The demo's actions on the highest-risk students of ``record`` (core/datasets/demo.py); how many. With
    ``flagged_only`` (a past term): every student the report flagged high is contacted, dated days after it."""
    engine = get_engine(settings.db_url)
    now = datetime.now(UTC)
    rows = report_rows(settings.reports_dir, record)
    ranked = rows["user_id"].tolist()  # highest risk first
    actions = demo_actions(ranked)
    if flagged_only:
        now = datetime.combine(record.report_date, datetime.min.time(), UTC) + timedelta(days=10)
        flagged = rows.loc[rows["risk_band"] == "high", "user_id"].tolist()
        already = set(action_frame(engine, record.course_id, record.period_id)["user_id"])
        actions = [a for a in demo_actions(flagged) if a.user_id not in already] + [
            DemoAction(u, "contacted", None, 9) for u in flagged[4:] if u not in already
        ]
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
