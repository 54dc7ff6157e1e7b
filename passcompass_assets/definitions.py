"""The one Dagster ``Definitions`` of PassCompass: every domain's assets, checks, sensors and jobs, composed."""

import dagster as dg

from passcompass_assets import ingestion
from passcompass_assets.resources import PlatformResource

defs = dg.Definitions(
    assets=[ingestion.raw_uploads, ingestion.apply_uploads],
    jobs=[ingestion.ingest_upload_job],
    sensors=[ingestion.upload_sensor, ingestion.inbox_sensor],
    resources={"platform": PlatformResource()},
)
