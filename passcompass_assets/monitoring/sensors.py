"""Feedback and alerting sensors: final grades lead to evaluation and retraining; failures raise alerts."""

from datetime import timedelta

import dagster as dg

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.feedback import due_evaluations, due_training, evaluation_scope
from passcompass_assets.core.keys import CoursePeriod
from passcompass_assets.ml import train_model_job
from passcompass_assets.monitoring.assets import report_evaluation_job
from passcompass_assets.monitoring.partitions import EVALUATION_PARTITIONS
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import ITEMS_TAG, RetryPolicy, Work, failure_message, is_last_attempt, plan


@dg.sensor(
    jobs=[report_evaluation_job, train_model_job],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def final_grades_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Final grades newer than a course period's last evaluation: evaluate its reports again. Newer than the last
    training, and quiet for a while: retrain (one challenger for a batch of files).

    Only processed uploads count, so neither ever sees half an upload; the runs record how far they got.
    """
    settings = platform.settings
    work = [
        Work(
            f"{evaluation_scope(due.course_id, due.period_id)}@{due.through_seq}",
            report_evaluation_job.name,
            CoursePeriod(due.course_id, due.period_id).key,
        )
        for due in due_evaluations(platform.engine)
    ]
    if (seq := due_training(platform.engine, timedelta(seconds=settings.retrain_quiet_seconds))) is not None:
        work.append(Work(f"retrain@{seq}", train_model_job.name))
    decided = plan(context.instance, work, RetryPolicy.from_settings(settings))
    if not decided.launch:
        return dg.SensorResult(skip_reason=dg.SkipReason("no evaluation or retraining to run now"))
    partitions = sorted({str(r.partition_key) for r in decided.launch if r.partition_key})
    return dg.SensorResult(
        run_requests=decided.launch,
        dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(EVALUATION_PARTITIONS, partitions)],
    )


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False)
def run_failure_alert(context: dg.RunFailureSensorContext, platform: PlatformResource) -> None:
    """A failed run is posted to the alert webhook (or logged when none is configured) once its work is given
    up: a run that will be retried is only logged, so work that keeps failing alerts once."""
    run = context.dagster_run
    message = (failure_message(context.instance, run.run_id) or context.failure_event.message or "no message")[:500]
    if run.tags.get(ITEMS_TAG) == "true":
        context.log.info(f"run {run.run_id} of job {run.job_name} failed item by item, each in its ledger: {message}")
        return
    if not is_last_attempt(run, RetryPolicy.from_settings(platform.settings)):
        context.log.info(f"run {run.run_id} of job {run.job_name} failed and will be retried: {message}")
        return
    send_alert(
        platform.settings.alert_webhook_url,
        "run_failure",
        f"run {run.run_id} of job {run.job_name} failed: {message}",
        run_id=run.run_id,
        job_name=run.job_name,
        partition=run.tags.get("dagster/partition"),
    )
