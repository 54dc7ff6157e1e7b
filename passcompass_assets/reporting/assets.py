"""The report asset: a report day's course reports (drift, then CSV, JSON and HTML), one batch of courses a run."""

from typing import Any

import dagster as dg

from passcompass_assets.core.reports.batch import CourseOutcome, make_reports
from passcompass_assets.core.reports.tasks import batch_tasks
from passcompass_assets.reporting.partitions import report_days
from passcompass_assets.resources import ModelResource, PlatformResource
from passcompass_assets.work import mark_items_failed

BATCH_TAG = "passcompass/batch"  # the batch of courses a report run makes (core/reports/tasks.py)
LANE_TAG = "passcompass/lane"  # "batch" runs are limited in dagster.yaml, so a "single" report always has a slot


def _observation(outcome: CourseOutcome) -> dict[str, Any]:
    """What the Dagster UI shows of one course's report: the course, its status, and the report's facts or why
    it failed."""
    task = outcome.task
    metadata: dict[str, Any] = {"course_id": task.course_id, "work": task.work_key}
    if outcome.report is None:
        return {**metadata, "status": "failed", "error": str(outcome.error), "will_retry": not outcome.given_up}
    report = outcome.report
    drift = outcome.drift
    return {
        **metadata,
        "status": "made",
        "report_id": report.report_id,
        "students": report.students,
        "band_counts": dg.MetadataValue.json(report.band_counts),
        "model_version": str(report.model_version),
        "confidence": report.confidence,
        "quality_gate": str(report.header.get("quality_gate", "")),
        "week_of_term": report.week_of_term,
        "drift_flagged": bool(drift and drift.flagged),
        "drift": drift.summary if drift else "",
        "notifications": dg.MetadataValue.json(outcome.notified),
    }


@dg.asset(
    partitions_def=report_days,
    deps=["student_records", "training_set", "fail_risk_model"],
    group_name="reporting",
    kinds={"evidently", "html", "csv", "json"},
    description=(
        "Fail-risk reports of a report day (a period and date): per course, Evidently drift of its students "
        "against its past students, then CSV, JSON and HTML in the report store. A run makes one batch of the "
        "day's courses (its passcompass/batch tag), loading the model once; each course is an observation."
    ),
)
def period_reports(
    context: dg.AssetExecutionContext, platform: PlatformResource, model: ModelResource
) -> dg.MaterializeResult:
    tasks = batch_tasks(platform.engine, context.run.tags[BATCH_TAG])
    champion = model.load() if tasks else None  # once per run, not once per course
    made, failed, given_up = [], [], 0
    for outcome in make_reports(platform.engine, platform.settings, champion, tasks):
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key, partition=context.partition_key, metadata=_observation(outcome)
            )
        )
        if outcome.report is None:
            context.log.error(f"report of {outcome.task.course_id} failed: {outcome.error}")
            failed.append(outcome.task.course_id)
            given_up += outcome.given_up
        else:
            made.append(outcome.task.course_id)
    if failed and not made:
        mark_items_failed(context)  # the ledger retries each course, or alerts once on one it gives up
        retried = len(failed) - given_up
        raise dg.Failure(
            f"every course of the batch failed ({len(failed)}): {retried} to be retried on its own, {given_up} given up"
        )
    return dg.MaterializeResult(
        metadata={
            "batch": context.run.tags[BATCH_TAG],
            "courses": len(tasks),
            "made": len(made),
            "failed": len(failed),
            "failed_courses": dg.MetadataValue.json(failed[:100]),
        }
    )


period_report_job = dg.define_asset_job(
    "period_report",
    selection=[period_reports],
    partitions_def=report_days,
    executor_def=dg.in_process_executor,
    description="A batch of a report day's course reports (one partition per period and report date).",
)
