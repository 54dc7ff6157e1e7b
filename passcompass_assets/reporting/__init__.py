"""Reporting domain: period reports on each course's cadence and on request, a report day's courses in batches."""

from passcompass_assets.reporting.assets import period_report_job, period_reports
from passcompass_assets.reporting.partitions import report_days
from passcompass_assets.reporting.schedules import report_schedule, report_sensor

__all__ = ["period_report_job", "period_reports", "report_days", "report_schedule", "report_sensor"]
