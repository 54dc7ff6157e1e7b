"""When report runs start: on each period's cadence (a daily tick decides) and on request."""

from datetime import date

import dagster as dg
import sqlalchemy as sa

from passcompass_assets.core.cadence import is_report_day
from passcompass_assets.core.db import courses, report_requests
from passcompass_assets.core.periods import list_periods
from passcompass_assets.reporting.assets import period_report_job
from passcompass_assets.reporting.partitions import ReportKey, report_partitions
from passcompass_assets.resources import PlatformResource


def _courses_by_period(platform: PlatformResource) -> dict[str, list[str]]:
    by_period: dict[str, list[str]] = {}
    with platform.engine.connect() as conn:
        for row in conn.execute(sa.select(courses.c.course_id, courses.c.period_id).order_by(courses.c.course_id)):
            by_period.setdefault(row.period_id, []).append(row.course_id)
    return by_period


def due_reports(platform: PlatformResource, day: date) -> list[ReportKey]:
    """Every course of every period whose cadence falls on ``day`` (or whose last day it is)."""
    by_period = _courses_by_period(platform)
    return [
        ReportKey(course_id, period.period_id, day)
        for period in list_periods(platform.engine)
        if is_report_day(period, day)
        for course_id in by_period.get(period.period_id, [])
    ]


def _run_requests(
    context: dg.ScheduleEvaluationContext | dg.SensorEvaluationContext, keys: dict[str, ReportKey]
) -> list[dg.RunRequest]:
    """``keys``: run key -> report. Partitions are added first, so the runs can target them."""
    context.instance.add_dynamic_partitions(report_partitions.name, [k.partition_key for k in keys.values()])
    return [dg.RunRequest(run_key=run_key, partition_key=key.partition_key) for run_key, key in keys.items()]


@dg.schedule(
    job=period_report_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily tick; a period's cadence (every 2, 3 or 4 weeks from its start, and its last day) decides.",
)
def report_schedule(context: dg.ScheduleEvaluationContext, platform: PlatformResource):
    day = context.scheduled_execution_time.date()
    keys = due_reports(platform, day)
    if not keys:
        return dg.SkipReason(f"no report due on {day.isoformat()}")
    # The run key makes the schedule idempotent: one report per course per report date.
    return _run_requests(context, {key.partition_key: key for key in keys})


@dg.sensor(job=period_report_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def report_request_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource):
    """Turn ``POST /api/v1/reports`` requests into report runs for today's date."""
    after = int(context.cursor or 0)
    query = sa.select(report_requests).where(report_requests.c.seq > after).order_by(report_requests.c.seq)
    with platform.engine.connect() as conn:
        requested = conn.execute(query).all()
    if not requested:
        return dg.SkipReason("no report requests")
    context.update_cursor(str(requested[-1].seq))
    # Each request is its own run (run key = request id): asking again later gives a fresh report.
    return _run_requests(
        context, {r.request_id: ReportKey(r.course_id, r.period_id, r.requested_at.date()) for r in requested}
    )
