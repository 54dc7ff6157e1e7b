"""When report runs start: on each period's cadence (a daily tick decides) and on request."""

import dagster as dg

from passcompass_assets.core.reports.requests import due_reports, pending_requests
from passcompass_assets.reporting.assets import period_report_job
from passcompass_assets.reporting.partitions import REPORT_PARTITIONS, ReportKey
from passcompass_assets.resources import PlatformResource


def _run_requests(
    context: dg.ScheduleEvaluationContext | dg.SensorEvaluationContext, keys: dict[str, ReportKey]
) -> list[dg.RunRequest]:
    """``keys``: run key -> report. Partitions are added first, so the runs can target them."""
    context.instance.add_dynamic_partitions(REPORT_PARTITIONS, [k.partition_key for k in keys.values()])
    return [dg.RunRequest(run_key=run_key, partition_key=key.partition_key) for run_key, key in keys.items()]


@dg.schedule(
    job=period_report_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily tick; a period's cadence (every 2, 3 or 4 weeks from its start, and its last day) decides.",
)
def report_schedule(
    context: dg.ScheduleEvaluationContext, platform: PlatformResource
) -> list[dg.RunRequest] | dg.SkipReason:
    day = context.scheduled_execution_time.date()
    keys = [ReportKey(course_id, period_id, day) for course_id, period_id in due_reports(platform.engine, day)]
    if not keys:
        return dg.SkipReason(f"no report due on {day.isoformat()}")
    # The run key makes the schedule idempotent: one report per course per report date.
    return _run_requests(context, {key.partition_key: key for key in keys})


@dg.sensor(job=period_report_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def report_request_sensor(
    context: dg.SensorEvaluationContext, platform: PlatformResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """Turn ``POST /api/v1/reports`` requests into report runs for the day they were asked on."""
    requested = pending_requests(platform.engine, after_seq=int(context.cursor or 0))
    if not requested:
        return dg.SkipReason("no report requests")
    context.update_cursor(str(requested[-1].seq))
    # Each request is its own run (run key = request id): asking again later gives a fresh report.
    return _run_requests(
        context, {r.request_id: ReportKey(r.course_id, r.period_id, r.requested_at.date()) for r in requested}
    )
