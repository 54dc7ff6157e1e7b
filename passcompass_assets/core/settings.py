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
    # An activity log (a backfill of a year of a log store) streams: it may be much larger than an upload.
    max_activity_bytes: int = 4 * 1024 * 1024 * 1024
    # Distinct courses and periods one upload (or predict request) may name: a file is a course's or a term's
    # export, and every course it names becomes a row (a typo'd column would make thousands).
    max_upload_courses: int = 2000
    max_upload_periods: int = 50
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
    # A report day's courses are made this many to a run: few runs (each loads the model once), yet enough of them
    # to run side by side and to leave a slot for an on-demand report.
    report_batch_size: int = 200
    # How often the upload sensor looks for received uploads (read when the definitions load). Dagster's sensor
    # loop runs every 5 seconds, so anything below 5 means "on every loop".
    upload_poll_seconds: int = 10
    # The institution's time zone (IANA name): an activity event counts on its local date.
    timezone: str = "UTC"
    # Activity before a term's first day counts for that term this many days back (orientation, early access).
    activity_lead_days: int = 28
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
    def held_dir(self) -> Path:
        """Files previewed on the upload page, held encrypted until committed (at most half an hour)."""
        return self.resolved_home / "held"

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home / "dagster"

    def ensure_dirs(self) -> None:
        for path in (self.landing_dir, self.inbox_dir, self.inbox_dir / "rejected", self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)

    # --- Access control and data protection (core/access, core/privacy). Lists are comma-separated. -----------
    # Host headers the API answers (others get 400): names, "*.example.org" for a domain's hosts, "*" for any.
    trusted_hosts: str = "127.0.0.1,localhost,testserver"
    # Origins whose browser scripts may call the API (CORS); empty: none.
    cors_origins: str = ""
    # Signs the page's session cookies and keys erasure records; unset: a random key kept in home/secret_key.
    # Set it (the same everywhere) when several API processes share the platform.
    secret_key: str | None = None
    # How long a page session lasts; a one-time sign-in link (`passcompass run`) may be used within its own time.
    session_hours: float = 12.0
    signin_link_hours: float = 24.0
    # The session cookie's Secure flag; unset: when the request came over HTTPS (uvicorn --proxy-headers).
    cookie_secure: bool | None = None
    # OpenID Connect: bearer JWTs for API clients, and the page's sign-in (authorization code with PKCE) when a
    # client id is set. Endpoints default to the issuer's discovery document.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_audience: str | None = None  # the `aud` bearer tokens must carry; default: the client id
    oidc_jwks_url: str | None = None
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_roles_claim: str = "roles"  # dotted path, e.g. realm_access.roles
    oidc_courses_claim: str = "courses"
    oidc_role_prefix: str = ""  # e.g. "passcompass-": the claim's "passcompass-admin" is the admin role
    oidc_algorithms: str = "RS256"
    oidc_scopes: str = "openid profile"
    # The page's sign-in callback as the provider must call it; unset: as the request names it (/auth/oidc/callback).
    oidc_redirect_url: str | None = None
    # Fair use, per token or subject and API process: uploads (student data and final grades) and report
    # requests per minute; 0: no limit.
    upload_rate_per_minute: int = 60
    report_request_rate_per_minute: int = 10
    predict_rate_per_minute: int = 60  # POST /api/v1/predict calls
    # Student-level data of a period is purged this many days after the period ends (unset: kept); aggregates
    # (model metrics, evaluation summaries, report counts) stay. The access log keeps its entries this long.
    retention_days: int | None = None
    access_log_retention_days: int = 365
    # Pseudonymous ids (core/ingest/pseudonyms.py): set, every user id is replaced at ingestion by an HMAC-SHA256
    # under this key, which only the institution should hold; unset: ids are stored as received. Set it before
    # the first upload, and keep it: a new key gives every student a new id.
    pseudonym_key: str | None = None
    # The evaluation after final grades counts a withdrawn student as not passing (False: leaves them out).
    withdrawals_count_as_failed: bool = True
    # The fairness audit: groups under this many students are "too few to report"; a disparity (ABROCA above
    # fairness_abroca with p < 0.05, or high-band recall differing by more than fairness_recall_gap) alerts.
    fairness_min_group: int = 20
    fairness_abroca: float = 0.1
    fairness_recall_gap: float = 0.2

    # --- Notifications when a report is ready (core/notify.py) ---------------------------------------------------
    # The platform's address as instructors reach it: the notifications link to the course page under it.
    public_url: str = "http://127.0.0.1:8000"
    # E-mail over SMTP to the course's instructors; unset host: no e-mail.
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 25
    notify_smtp_from: str = "passcompass@localhost"
    notify_smtp_starttls: bool = False
    notify_smtp_username: str | None = None
    notify_smtp_password: str | None = None
    notify_smtp_timeout_seconds: float = 10.0
    # The instructors' addresses per course, as JSON: {"bio-101": ["a@uni.example"], "*": ["dean@uni.example"]}
    # ("*": told of every course). Staff addresses: kept here, never written to a log or an alert.
    notify_instructors: dict[str, list[str]] = {}
    # A webhook (JSON POST: counts, the number new to high risk, the link; Slack-compatible ``text``); unset: none.
    notify_webhook_url: str | None = None
