"""When report runs start: on each period's cadence (a daily tick decides) and on request; failed ones again."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.reports.requests import due_reports, finish_request, pending_requests
from passcompass_assets.reporting.assets import period_report_job
from passcompass_assets.reporting.partitions import REPORT_PARTITIONS
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import ATTEMPT_TAG, WORK_TAG, RetryPolicy, Work, plan

RETRY_WINDOW = timedelta(days=7)  # failed scheduled reports older than this are not retried any more


def scheduled_work(key: ReportKey) -> Work:
    return Work(f"report:{key.key}", period_report_job.name, key.key)


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
    context.instance.add_dynamic_partitions(REPORT_PARTITIONS, [key.key for key in keys])
    # The run key makes the schedule idempotent (one report per course per report date); the work tag lets the
    # report sensor retry a run that fails.
    return [
        dg.RunRequest(
            run_key=key.key,
            partition_key=key.key,
            tags={WORK_TAG: scheduled_work(key).key, ATTEMPT_TAG: "1"},
        )
        for key in keys
    ]


def _failed_scheduled(instance: dg.DagsterInstance) -> list[Work]:
    """Scheduled reports with a recent failed run (the plan skips those that succeeded since)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=period_report_job.name,
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
            updated_after=datetime.now(UTC) - RETRY_WINDOW,
        )
    )
    keys = {run.tags[WORK_TAG] for run in runs if run.tags.get(WORK_TAG, "").startswith("report:")}
    return [scheduled_work(ReportKey.parse(key.removeprefix("report:"))) for key in sorted(keys)]


@dg.sensor(job=period_report_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def report_request_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Run each ``POST /api/v1/reports`` request (a report for the day it was asked on) until it is done, and
    retry scheduled reports whose run failed; with back-off, a bounded number of times."""
    requests = {f"report-request:{r.request_id}": r for r in pending_requests(platform.engine)}
    work = [
        Work(key, period_report_job.name, ReportKey(r.course_id, r.period_id, r.requested_at.date()).key)
        for key, r in requests.items()
    ]
    decided = plan(
        context.instance, [*work, *_failed_scheduled(context.instance)], RetryPolicy.from_settings(platform.settings)
    )
    for item in decided.succeeded:
        if item.key in requests:
            finish_request(platform.engine, requests[item.key].request_id, "done")
    for item, tried in decided.given_up:
        if item.key in requests:
            reason = f"{tried.last_error or 'the report run failed'} (after {tried.failures} attempt(s))"
            finish_request(platform.engine, requests[item.key].request_id, "failed", reason)
    if not decided.launch:
        return dg.SensorResult(skip_reason=dg.SkipReason("no report to run now"))
    partitions = sorted({str(r.partition_key) for r in decided.launch})
    return dg.SensorResult(
        run_requests=decided.launch,
        dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(REPORT_PARTITIONS, partitions)],
    )
