"""Ingestion domain: uploads become partitions, then the current state per student and course."""

from passcompass_assets.ingestion.assets import apply_uploads, ingest_upload_job, raw_uploads, uploads_partitions
from passcompass_assets.ingestion.sensors import inbox_sensor, upload_sensor

__all__ = ["apply_uploads", "inbox_sensor", "ingest_upload_job", "raw_uploads", "upload_sensor", "uploads_partitions"]
