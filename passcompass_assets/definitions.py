"""The one Dagster ``Definitions`` of PassCompass: every domain's assets, checks, sensors and jobs, composed."""

import dagster as dg

from passcompass_assets import ingestion, ml, monitoring, reporting
from passcompass_assets.core.logs import configure_json_logging
from passcompass_assets.features import dbt_feature_assets, dbt_resource
from passcompass_assets.monitoring.retention import retention_schedule
from passcompass_assets.resources import ModelResource, PlatformResource

configure_json_logging()

defs = dg.Definitions(
    assets=[
        ingestion.raw_uploads,
        ingestion.apply_uploads,
        dbt_feature_assets,
        ml.initial_training_data,
        ml.fail_risk_model,
        reporting.period_reports,
        monitoring.report_evaluation,
    ],
    jobs=[
        ingestion.ingest_upload_job,
        ml.train_model_job,
        reporting.period_report_job,
        monitoring.report_evaluation_job,
    ],
    schedules=[reporting.report_schedule, retention_schedule],
    sensors=[
        ingestion.upload_sensor,
        ingestion.inbox_sensor,
        reporting.report_sensor,
        monitoring.final_grades_sensor,
        monitoring.run_failure_alert,
    ],
    resources={"platform": PlatformResource(), "model": ModelResource(), "dbt": dbt_resource()},
)
