"""Reporting domain: period reports on each course's cadence and on request."""

from passcompass_assets.reporting.assets import feature_drift, period_report_job, period_reports
from passcompass_assets.reporting.partitions import report_partitions
from passcompass_assets.reporting.schedules import report_request_sensor, report_schedule

__all__ = [
    "feature_drift",
    "period_report_job",
    "period_reports",
    "report_partitions",
    "report_request_sensor",
    "report_schedule",
]
