"""Operator actions run in process through the same Dagster jobs the sensors and schedules launch.

They record their runs in the platform's Dagster instance (``DAGSTER_HOME``), so they show in the UI as well.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from passcompass_assets.core.db import courses, get_engine, uploads, with_driver
from passcompass_assets.core.demo_data import generate_demo
from passcompass_assets.core.landing import LandingStore
from passcompass_assets.core.migrate import upgrade
from passcompass_assets.core.periods import Period, active_periods, upsert_period
from passcompass_assets.core.reporting import course_periods, list_reports
from passcompass_assets.core.settings import Settings
from passcompass_assets.core.uploads import find_upload, pending_uploads, receive_upload
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion import uploads_partitions
from passcompass_assets.reporting import ReportKey, report_partitions

REPO_ROOT = Path(__file__).resolve().parents[1]


def prepare_home(settings: Settings) -> None:
    """Create PASSCOMPASS_HOME with its folders, migrate the database, point Dagster at its instance folder."""
    settings.ensure_dirs()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    # On PostgreSQL the Dagster instance lives there too (dagster-postgres), configured by deploy/dagster.yaml.
    instance_yaml = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    if settings.db_url.startswith("postgresql") and not instance_yaml.exists():
        os.environ.setdefault("DAGSTER_PG_URL", with_driver(settings.db_url))
        shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", instance_yaml)


def _execute(job_name: str, partition_key: str | None = None, partitions: str | None = None) -> bool:
    with dg.DagsterInstance.get() as instance:
        if partition_key and partitions:
            instance.add_dynamic_partitions(partitions, [partition_key])
        job = defs.resolve_job_def(job_name)
        return job.execute_in_process(partition_key=partition_key, instance=instance, raise_on_error=False).success


def process_pending(settings: Settings) -> list[dict[str, object]]:
    """Run the ingestion job the upload sensor would launch, for every received upload, oldest first."""
    prepare_home(settings)
    engine = get_engine(settings.db_url)
    results = []
    for _, upload_id in pending_uploads(engine):
        _execute("ingest_upload", upload_id, uploads_partitions.name)
        receipt = find_upload(engine, upload_id)
        assert receipt is not None
        results.append({"upload_id": upload_id, "status": receipt.status, "error": receipt.error})
    return results


def train(settings: Settings) -> bool:
    """The retraining job: dbt features and training set, then a challenger through the quality gate."""
    prepare_home(settings)
    return _execute("train_model")


def report(settings: Settings, course_id: str, period_id: str | None = None, as_of: date | None = None) -> sa.Row:
    """One course report for ``as_of`` (default today) in the named, current or latest period of the course."""
    prepare_home(settings)
    engine = get_engine(settings.db_url)
    as_of = as_of or date.today()
    periods = course_periods(engine, course_id)
    if not periods:
        raise LookupError(f"no data for course {course_id!r}")
    current = {p.period_id for p in active_periods(engine, as_of)}
    period_id = period_id or next((p for p in periods if p in current), periods[-1])
    key = ReportKey(course_id, period_id, as_of)
    if not _execute("period_report", key.partition_key, report_partitions.name):
        raise RuntimeError(f"the report run for {key.partition_key} failed: see the Dagster UI")
    return list_reports(engine, course_id, period_id)[0]


def load_demo(settings: Settings, today: date | None = None) -> int:
    """Generate the synthetic demo terms under home and register them as a client would: the periods, then every
    snapshot and final-grade file as an upload (the upload sensor, or :func:`process_pending`, applies them)."""
    today = today or date.today()
    engine = get_engine(settings.db_url)
    manifest = generate_demo(settings.resolved_home / "demo" / today.isoformat(), today=today)
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
    store = LandingStore(settings.landing_dir)
    for demo_file in manifest.files:
        receive_upload(engine, store, demo_file.path.read_bytes(), kind=demo_file.kind, source="demo")
    return len(manifest.files)


def has_uploads(settings: Settings) -> bool:
    with get_engine(settings.db_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() > 0


def bootstrap_demo(settings: Settings, today: date | None = None, say: Callable[[str], None] = print) -> None:
    """A living platform from nothing: the demo terms ingested, a model trained, and a report as of today for
    every course of the current term (later ones follow the schedule)."""
    today = today or date.today()
    prepare_home(settings)
    say(f"demo: {load_demo(settings, today)} uploads registered; processing them")
    process_pending(settings)
    say("demo: training the model (dbt features, cross-validation, quality gate)")
    train(settings)
    engine = get_engine(settings.db_url)
    for period in active_periods(engine, today):
        with engine.connect() as conn:
            names = conn.execute(sa.select(courses.c.course_id).where(courses.c.period_id == period.period_id))
            course_ids = sorted(names.scalars())
        for course_id in course_ids:
            say(f"demo: report for {course_id} as of {today.isoformat()}")
            report(settings, course_id, period.period_id, today)
