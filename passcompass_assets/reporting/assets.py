"""The period report asset: one partition per course, period and report date."""

import dagster as dg

from passcompass_assets.core.report_service import generate_report
from passcompass_assets.reporting.partitions import ReportKey, report_partitions
from passcompass_assets.resources import ModelResource, PlatformResource


@dg.asset(
    partitions_def=report_partitions,
    deps=["student_records", "fail_risk_model"],
    group_name="reporting",
    kinds={"html", "csv", "json"},
    description="A fail-risk report per course and report date: CSV, JSON and HTML in the report store.",
)
def period_reports(
    context: dg.AssetExecutionContext, platform: PlatformResource, model: ModelResource
) -> dg.MaterializeResult:
    key = ReportKey.parse(context.partition_key)
    report = generate_report(
        platform.engine, platform.settings, model.load(), key.course_id, key.period_id, key.report_date
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
        }
    )


period_report_job = dg.define_asset_job(
    "period_report",
    selection=[period_reports],
    partitions_def=report_partitions,
    executor_def=dg.in_process_executor,
    description="Generate one course report (one partition per course, period and report date).",
)
