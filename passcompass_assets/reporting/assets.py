"""Report assets: feature drift and the period report, one partition per course, period and report date."""

import dagster as dg

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.drift import course_drift
from passcompass_assets.core.keys import ReportKey
from passcompass_assets.core.notify import notify_report_ready
from passcompass_assets.core.reports.service import generate_report, report_period
from passcompass_assets.reporting.partitions import report_partitions
from passcompass_assets.resources import ModelResource, PlatformResource
from passcompass_assets.work import WORK_TAG


@dg.asset(
    partitions_def=report_partitions,
    deps=["student_records", "training_set"],
    group_name="reporting",
    kinds={"evidently"},
    description="Evidently data drift of a course's current features against the training data.",
)
def feature_drift(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.Output[dict]:
    key = ReportKey.parse(context.partition_key)
    settings = platform.settings
    period = report_period(platform.engine, key.period_id, key.course_id, key.report_date)
    result = course_drift(
        platform.engine, settings.reports_dir, key.course_id, period, key.report_date, settings.drift_share_threshold
    )
    if result.flagged:
        send_alert(
            settings.alert_webhook_url,
            "drift",
            f"{key.course_id} ({key.period_id}) on {key.report_date}: {result.summary}",
            course_id=key.course_id,
            period_id=key.period_id,
        )
    return dg.Output(
        result.as_dict(),
        metadata={
            "drifted_share": result.share,
            "drifted_columns": dg.MetadataValue.json(result.drifted_columns),
            "flagged": result.flagged,
            "summary": result.summary,
        },
    )


@dg.asset(
    partitions_def=report_partitions,
    deps=["student_records", "fail_risk_model"],
    group_name="reporting",
    kinds={"html", "csv", "json"},
    description="A fail-risk report per course and report date: CSV, JSON and HTML in the report store.",
)
def period_reports(
    context: dg.AssetExecutionContext, platform: PlatformResource, model: ModelResource, feature_drift: dict
) -> dg.MaterializeResult:
    key = ReportKey.parse(context.partition_key)
    report = generate_report(
        platform.engine,
        platform.settings,
        model.load(),
        key.course_id,
        key.period_id,
        key.report_date,
        feature_drift,
        work_key=context.run.tags.get(WORK_TAG),
    )
    # The course's instructors are told once per report; a failure is logged and alerted, never raised.
    notified = notify_report_ready(platform.settings, platform.engine, report)
    return dg.MaterializeResult(
        metadata={
            "report_id": report.report_id,
            "students": report.students,
            "band_counts": dg.MetadataValue.json(report.band_counts),
            "model_version": str(report.model_version),
            "confidence": report.confidence,
            "quality_gate": str(report.header.get("quality_gate", "")),
            "week_of_term": report.week_of_term,
            "drift_flagged": bool(feature_drift.get("flagged")),
            "notifications": dg.MetadataValue.json(notified),
        }
    )


period_report_job = dg.define_asset_job(
    "period_report",
    selection=[feature_drift, period_reports],
    partitions_def=report_partitions,
    executor_def=dg.in_process_executor,
    description="Drift, then one course report (one partition per course, period and report date).",
)
