"""Report assets: feature drift and the period report, one partition per course, period and report date."""

import dagster as dg

from passcompass_assets.core.alerts import send_alert
from passcompass_assets.core.drift import feature_drift as measure_drift
from passcompass_assets.core.drift import reference_for
from passcompass_assets.core.report_service import generate_report, load_course_frame
from passcompass_assets.core.training_data import platform_training_frame
from passcompass_assets.reporting.partitions import ReportKey, report_partitions
from passcompass_assets.resources import ModelResource, PlatformResource


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
    current = load_course_frame(platform.engine, key.course_id, key.period_id)
    reference = reference_for(platform_training_frame(platform.engine), key.course_id)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in context.partition_key)
    html = settings.reports_dir / "drift" / f"{safe}.html"
    if reference.empty or current.empty:
        summary = {"columns": 0, "drifted_columns": [], "share": 0.0, "flagged": False, "summary": "no reference data"}
    else:
        result = measure_drift(reference, current, html, settings.drift_share_threshold)
        summary = {**result.as_dict(), "html": str(html)}
        if result.flagged:
            send_alert(
                settings.alert_webhook_url,
                "drift",
                f"{key.course_id} ({key.period_id}) on {key.report_date}: {result.summary}",
                course_id=key.course_id,
                period_id=key.period_id,
            )
    return dg.Output(
        summary,
        metadata={
            "drifted_share": float(summary["share"]),  # type: ignore[arg-type]
            "drifted_columns": dg.MetadataValue.json(summary["drifted_columns"]),
            "flagged": bool(summary["flagged"]),
            "summary": str(summary["summary"]),
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
        platform.engine, platform.settings, model.load(), key.course_id, key.period_id, key.report_date, feature_drift
    )
    header = report.header
    return dg.MaterializeResult(
        metadata={
            "report_id": report.report_id,
            "students": header["students"],
            "band_counts": dg.MetadataValue.json(header["band_counts"]),
            "model_version": str(header["model_version"]),
            "confidence": str(header["confidence"]),
            "quality_gate": str(header["quality_gate"]),
            "week_of_term": header["week_of_term"],
            "drift_flagged": bool(feature_drift.get("flagged")),
        }
    )


period_report_job = dg.define_asset_job(
    "period_report",
    selection=[feature_drift, period_reports],
    partitions_def=report_partitions,
    executor_def=dg.in_process_executor,
    description="Drift, then one course report (one partition per course, period and report date).",
)
