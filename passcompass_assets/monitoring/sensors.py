"""Feedback and alerting sensors: final grades trigger evaluation and retraining; failures raise alerts."""

from datetime import datetime

import dagster as dg

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.ingest.uploads import processed_since
from passcompass_assets.core.reports.store import reported_course_periods
from passcompass_assets.ml import train_model_job
from passcompass_assets.monitoring.assets import report_evaluation_job
from passcompass_assets.monitoring.partitions import EVALUATION_PARTITIONS, CoursePeriod
from passcompass_assets.resources import PlatformResource


@dg.sensor(
    jobs=[report_evaluation_job, train_model_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def final_grades_sensor(
    context: dg.SensorEvaluationContext, platform: PlatformResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """A processed upload with final grades is one complete unit: evaluate its courses' reports, then retrain.

    Only processed uploads count, so retraining never sees half an upload; run keys make each request once.
    """
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    processed = [u for u in processed_since(platform.engine, since) if u.carries_final_grades]
    if not processed:
        return dg.SkipReason("no new final grades")
    reported = reported_course_periods(platform.engine)
    evaluations = {
        f"{upload.upload_id}:{course_id}|{period_id}": CoursePeriod(course_id, period_id)
        for upload in processed
        for course_id in upload.course_ids
        for period_id in upload.period_ids
        if (course_id, period_id) in reported
    }
    context.instance.add_dynamic_partitions(
        EVALUATION_PARTITIONS, sorted({k.partition_key for k in evaluations.values()})
    )
    requests = [
        dg.RunRequest(run_key=run_key, job_name=report_evaluation_job.name, partition_key=key.partition_key)
        for run_key, key in evaluations.items()
    ]
    requests += [dg.RunRequest(run_key=f"retrain:{u.upload_id}", job_name=train_model_job.name) for u in processed]
    last = processed[-1].processed_at
    if last is not None:
        context.update_cursor(last.isoformat())
    return requests


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False)
def run_failure_alert(context: dg.RunFailureSensorContext, platform: PlatformResource) -> None:
    """Every failed run is posted to the alert webhook (or logged when none is configured)."""
    run = context.dagster_run
    message = context.failure_event.message or "no message"
    send_alert(
        platform.settings.alert_webhook_url,
        "run_failure",
        f"run {run.run_id} of job {run.job_name} failed: {message[:500]}",
        run_id=run.run_id,
        job_name=run.job_name,
        partition=run.tags.get("dagster/partition"),
    )
