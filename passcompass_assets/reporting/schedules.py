"""When reports are made: a daily tick queues the courses due on a period's cadence, the API queues requests, and
the report sensor makes whatever is queued in batches (one run per batch), retrying a failed course on its own."""

from __future__ import annotations

import dagster as dg

from passcompass_assets.core.reports.requests import queue_due_reports
from passcompass_assets.core.reports.tasks import (
    Batch,
    fail_batch,
    finish_requests,
    form_batches,
    open_batches,
    requeue_failed,
)
from passcompass_assets.core.retry import RetryPolicy
from passcompass_assets.reporting.assets import BATCH_TAG, LANE_TAG, period_report_job
from passcompass_assets.reporting.partitions import REPORT_DAYS
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import Work, plan

PRIORITY_TAG = "dagster/priority"  # the run queue takes a single report (an on-demand one) before a batch


def batch_work(batch: Batch) -> Work:
    single = batch.size == 1
    tags = {BATCH_TAG: batch.batch_id, LANE_TAG: "single" if single else "batch", PRIORITY_TAG: "1" if single else "0"}
    return Work(f"report-batch:{batch.batch_id}", period_report_job.name, batch.day.key, tags)


@dg.schedule(
    job=period_report_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily tick: queues the report of every course whose period's cadence (every 2, 3 or 4 weeks "
    "from its start, and its last day) falls on the day; the report sensor makes them in batches.",
)
def report_schedule(context: dg.ScheduleEvaluationContext, platform: PlatformResource) -> dg.SkipReason:
    day = context.scheduled_execution_time.date()
    queued = queue_due_reports(platform.engine, day)
    # The runs are the report sensor's: one place launches, retries and gives up, whoever queued the work.
    if not queued:
        return dg.SkipReason(f"no report due on {day.isoformat()} (or queued already)")
    return dg.SkipReason(f"{queued} report(s) due on {day.isoformat()} queued; the report sensor makes them")


# On every loop of Dagster's sensor daemon (5 s): an instructor's on-demand report waits for the next evaluation.
@dg.sensor(job=period_report_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def report_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Make every queued course report: failed courses back in the queue once their back-off is over, the queue
    cut into batches of a report day's courses, a run per batch until it succeeds (a run that crashed is relaunched
    for the courses it had not made), requests finished once their report is made or given up."""
    engine, settings = platform.engine, platform.settings
    policy = RetryPolicy.from_settings(settings)
    requeue_failed(engine, policy)
    form_batches(engine, settings.report_batch_size)
    decided = plan(context.instance, [batch_work(batch) for batch in open_batches(engine)], policy)
    for item, tried in decided.given_up:
        fail_batch(engine, item.tags[BATCH_TAG], tried.last_error or "the report run failed", policy, final=True)
    for item in decided.succeeded:  # a run that ended well yet left courses unmade: they wait for a new batch
        fail_batch(engine, item.tags[BATCH_TAG], "the report run ended without making it", policy)
    finish_requests(engine)
    if not decided.launch:
        return dg.SensorResult(skip_reason=dg.SkipReason("no report to make now"))
    days = sorted({str(r.partition_key) for r in decided.launch})
    return dg.SensorResult(
        run_requests=decided.launch,
        dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(REPORT_DAYS, days)],
    )
