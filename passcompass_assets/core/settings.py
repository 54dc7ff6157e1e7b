"""Platform settings, read from ``PASSCOMPASS_*`` environment variables alone."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSCOMPASS_", extra="ignore")

    home: Path = Path(".passcompass")
    # Operational database; the embedded default is a SQLite file under ``home``.
    database_url: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    default_period_id: str = "default"
    # Grade scale of a course first seen in an upload (the UCI data: 0-20, pass at 10).
    default_grade_max: float = 20.0
    default_pass_mark: float = 10.0
    # Risk bands of a report: fail probability at or above ``risk_high`` is high, at or above ``risk_medium``
    # medium, else low.
    risk_high: float = 0.5
    risk_medium: float = 0.25
    # Alerts (run failures, drift, quality-gate decisions) go to this Slack-compatible webhook; unset: log only.
    alert_webhook_url: str | None = None
    # A report whose share of drifted features reaches this is flagged.
    drift_share_threshold: float = 0.5
    # Runs of work that must get done (ingestion, reports, evaluations, retraining): at most this many attempts,
    # the wait after a failure starting at ``retry_backoff_seconds`` and doubling.
    retry_attempts: int = 3
    retry_backoff_seconds: float = 15.0
    # Retrain once final grades have been quiet this long: one retraining per batch of files, not one per file.
    retrain_quiet_seconds: float = 60.0

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'passcompass.db'}"

    @property
    def mlflow_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` when set (e.g. PostgreSQL or a server), else SQLite under ``home``."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.resolved_home / "mlartifacts"

    @property
    def landing_dir(self) -> Path:
        return self.resolved_home / "landing"

    @property
    def inbox_dir(self) -> Path:
        return self.resolved_home / "inbox"

    @property
    def reports_dir(self) -> Path:
        return self.resolved_home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home / "dagster"

    def ensure_dirs(self) -> None:
        for path in (self.landing_dir, self.inbox_dir, self.inbox_dir / "rejected", self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)
