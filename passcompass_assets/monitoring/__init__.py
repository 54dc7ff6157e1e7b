"""Monitoring domain: report evaluation once final grades arrive, retraining, and alerts."""

from passcompass_assets.monitoring.assets import report_evaluation, report_evaluation_job
from passcompass_assets.monitoring.sensors import final_grades_sensor, run_failure_alert

__all__ = ["final_grades_sensor", "report_evaluation", "report_evaluation_job", "run_failure_alert"]
