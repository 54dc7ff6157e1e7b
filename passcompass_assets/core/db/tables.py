"""The operational tables: their definitions are the source of truth for the Alembic migrations.

``student_records`` gets one typed, nullable column per catalog feature, so dbt and SQL see real types.
"""

from __future__ import annotations

import sqlalchemy as sa

from passcompass_assets.core.catalog import Column, load_catalog

metadata = sa.MetaData()

_SQL_TYPES: dict[str, sa.types.TypeEngine] = {
    "string": sa.String(128),
    "integer": sa.Integer(),
    "number": sa.Float(),
    "boolean": sa.Boolean(),
    "category": sa.String(32),
    "date": sa.Date(),
}


def sql_type(column: Column) -> sa.types.TypeEngine:
    return _SQL_TYPES[column.type]


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("period_id", sa.String(128), nullable=False),
    ]


def _provenance_columns() -> list[sa.Column]:
    # Which upload last wrote the row, and its arrival number (provenance: records.py keeps arrival order).
    return [
        sa.Column("source_upload_id", sa.String(36), nullable=False),
        sa.Column("source_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


periods = sa.Table(
    "periods",
    metadata,
    sa.Column("period_id", sa.String(128), primary_key=True),
    sa.Column("start_date", sa.Date(), nullable=False),
    sa.Column("end_date", sa.Date(), nullable=False),
    sa.Column("cadence_weeks", sa.Integer(), nullable=False, server_default="3"),
)

courses = sa.Table(
    "courses",
    metadata,
    sa.Column("course_id", sa.String(128), primary_key=True),
    sa.Column("period_id", sa.String(128), primary_key=True),
    sa.Column("grade_max", sa.Float(), nullable=False),
    sa.Column("pass_mark", sa.Float(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("title", sa.String(256), nullable=True),
    # False while the course has the defaults it was given when an upload first named it.
    sa.Column("confirmed", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("scale_changed_at", sa.DateTime(timezone=True), nullable=True),
)

uploads = sa.Table(
    "uploads",
    metadata,
    # ``seq`` orders uploads by arrival; ``upload_id`` is the public, opaque id.
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("upload_id", sa.String(36), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # SHA-256 of the request content (file bytes and form fields): a repeated upload is found by it.
    sa.Column("content_key", sa.String(64), nullable=False, unique=True),
    # SHA-256 of the normalised, PII-free file in the landing store (its name there).
    sa.Column("landing_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("course_ids", sa.JSON(), nullable=False),
    sa.Column("period_ids", sa.JSON(), nullable=False),
    sa.Column("columns", sa.JSON(), nullable=False),
    sa.Column("dropped_columns", sa.JSON(), nullable=False),
    sa.Column("warnings", sa.JSON(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_uploads_status_seq", uploads.c.status, uploads.c.seq)


def _state_columns() -> list[sa.Column]:
    """What a record says of the student's enrolment: the date it describes, status, withdrawal date."""
    return [
        sa.Column("as_of_date", sa.Date(), nullable=True),
        sa.Column("enrolment_status", sa.String(32), nullable=True),
        sa.Column("withdrawal_date", sa.Date(), nullable=True),
    ]


def _feature_columns() -> list[sa.Column]:
    """One typed, nullable column per stored catalog feature (model inputs and audit columns) of the effective
    catalog; ``passcompass db upgrade`` adds the ones a deployment catalog brings (core/db/catalog_schema.py)."""
    return [sa.Column(c.name, sql_type(c), nullable=True) for c in load_catalog().stored_features]


# The current state per student. On PostgreSQL its pages are half empty (fillfactor 50, migration 0003) so
# re-uploads update in place.
student_records = sa.Table(
    "student_records",
    metadata,
    *_key_columns(),
    *_state_columns(),
    *_feature_columns(),
    *_provenance_columns(),
    sa.PrimaryKeyConstraint("user_id", "course_id", "period_id", name="pk_student_records"),
)

# Every processed snapshot of a student, valid from its date (the row's as_of_date, else the upload's arrival
# date): "as of D" is the latest version dated on or before D. The columns an upload left out are those its
# registry row does not list (uploads.columns): reading merges them from earlier versions.
record_versions = sa.Table(
    "record_versions",
    metadata,
    *_key_columns(),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("source_seq", sa.Integer(), nullable=False),
    *_state_columns(),
    *_feature_columns(),
    sa.Column("source_upload_id", sa.String(36), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "course_id", "period_id", "valid_from", "source_seq", name="pk_record_versions"),
)
sa.Index(
    "ix_record_versions_course", record_versions.c.course_id, record_versions.c.period_id, record_versions.c.valid_from
)
sa.Index("ix_record_versions_seq", record_versions.c.source_seq)

final_grades = sa.Table(
    "final_grades",
    metadata,
    *_key_columns(),
    sa.Column("final_grade", sa.Float(), nullable=False),
    *_provenance_columns(),
    sa.PrimaryKeyConstraint("user_id", "course_id", "period_id", name="pk_final_grades"),
)


reports = sa.Table(
    "reports",
    metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("course_id", sa.String(128), nullable=False),
    sa.Column("period_id", sa.String(128), nullable=False),
    # The date the report describes (its scheduled date); ``generated_at`` is when it was made.
    sa.Column("report_date", sa.Date(), nullable=False),
    sa.Column("report_number", sa.Integer(), nullable=False),
    sa.Column("week_of_term", sa.Integer(), nullable=False),
    sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("students", sa.Integer(), nullable=False),
    sa.Column("band_counts", sa.JSON(), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=True),
    sa.Column("confidence", sa.String(16), nullable=False),
    sa.Column("header", sa.JSON(), nullable=False),
    # Folder of the report's files (csv, json, html) relative to the report store.
    sa.Column("location", sa.String(512), nullable=False),
    # The piece of work that made it (a scheduled date or a request): a retried run finds it instead of
    # making a second one. Empty for reports made by hand.
    sa.Column("work_key", sa.String(400), nullable=True),
    sa.UniqueConstraint("work_key", name="uq_reports_work_key"),
)
sa.Index("ix_reports_course_period_date", reports.c.course_id, reports.c.period_id, reports.c.report_date)


report_requests = sa.Table(
    "report_requests",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, unique=True),
    sa.Column("course_id", sa.String(128), nullable=False),
    sa.Column("period_id", sa.String(128), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    # requested -> done (a report was stored) or failed (every attempt failed; ``error`` says why).
    sa.Column("status", sa.String(16), nullable=False, server_default="requested"),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_report_requests_status", report_requests.c.status)

# Every course report that must be made (scheduled for a report day, requested, or asked for by an operator), the
# ledger of its attempts: runs make a report day's courses in batches, and a course that fails is retried alone.
report_tasks = sa.Table(
    "report_tasks",
    metadata,
    # "report:<course|period|date>" (scheduled), "report-request:<request id>" or "manual:<uuid>": the report's
    # ``work_key``, so a retried run finds the report it already made.
    sa.Column("work_key", sa.String(400), primary_key=True),
    sa.Column("course_id", sa.String(128), nullable=False),
    sa.Column("period_id", sa.String(128), nullable=False),
    sa.Column("report_date", sa.Date(), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=True),
    # The batch (one run's worth of courses of a report day) it is in; empty while it waits for one.
    sa.Column("batch_id", sa.String(36), nullable=True),
    # pending -> done, or failed (then pending again after the back-off, until the attempts run out).
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("given_up", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("report_id", sa.String(36), nullable=True),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_report_tasks_status_batch", report_tasks.c.status, report_tasks.c.batch_id)
sa.Index("ix_report_tasks_course", report_tasks.c.course_id, report_tasks.c.period_id)
sa.Index("ix_report_tasks_request", report_tasks.c.request_id)

# How far the feedback loop has caught up: per scope ("train", or "evaluate:<course>|<period>"), the newest
# final-grades upload (by arrival ``seq``) that the last successful training or evaluation took into account.
feedback_state = sa.Table(
    "feedback_state",
    metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("through_seq", sa.Integer(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What staff did about a student's flag (the instructor's workspace): who (the principal's id, never a name) and
# when, taken from the credential. ``note`` is free staff text: shown to staff, never copied into reports, logs, the
# access log or the model. Erasure and retention find these rows by their user_id and course_id like any other.
student_actions = sa.Table(
    "student_actions",
    metadata,
    sa.Column("action_id", sa.String(36), primary_key=True),
    *_key_columns(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # The course's latest report when the action was recorded: the flag it answers.
    sa.Column("report_id", sa.String(36), nullable=True),
)
sa.Index(
    "ix_student_actions_course",
    student_actions.c.course_id,
    student_actions.c.period_id,
    student_actions.c.user_id,
)

# Who was told that a report is ready, per channel ("email", "webhook"): a retried report run does not tell twice.
report_notifications = sa.Table(
    "report_notifications",
    metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # "sent" or "failed"
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # The failure's kind (an exception's class name): never an address or a message that could quote one.
    sa.Column("error", sa.String(200), nullable=True),
)

# --- access control (migration 0006): nothing here holds a student's data: tokens are stored as hashes, the
# access log names principals and report ids, and an erasure is recorded with a keyed hash of the erased id.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    # The public part of a token (``pc_<token_id>_<secret>``): listed, revoked and logged by it.
    sa.Column("token_id", sa.String(16), primary_key=True),
    # "api": a bearer token; "signin": a one-time sign-in link for the web page.
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    # Courses granted to an instructor or viewer; ["*"]: every course.
    sa.Column("courses", sa.JSON(), nullable=False),
    sa.Column("label", sa.String(128), nullable=True),
    # SHA-256 of the secret part: the token itself is never stored.
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # A sign-in link works once: when it was used.
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

access_log = sa.Table(
    "access_log",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # "token:<token_id>" or "oidc:<subject>".
    sa.Column("principal", sa.String(200), nullable=False),
    # e.g. report.download, evaluation.download, prediction
    sa.Column("action", sa.String(64), nullable=False),
    # What was read: "report:<id>?format=csv", "evaluation:<course>|<period>?format=json", ...
    sa.Column("target", sa.String(400), nullable=False),
    sa.Column("course_id", sa.String(128), nullable=True),
)
sa.Index("ix_access_log_at", access_log.c.at)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("erasure_id", sa.String(36), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # Who: "token:<id>", "oidc:<subject>", "cli:<os user>", "retention".
    sa.Column("actor", sa.String(200), nullable=False),
    # "student" (an erasure request) or "retention" (a period past its retention).
    sa.Column("scope", sa.String(16), nullable=False),
    # HMAC-SHA256 of the erased user id under the platform key: lets an operator confirm that a given id was
    # erased, without storing it.
    sa.Column("subject_hash", sa.String(64), nullable=True),
    sa.Column("course_id", sa.String(128), nullable=True),
    sa.Column("period_id", sa.String(128), nullable=True),
    # What was removed where: counts only.
    sa.Column("counts", sa.JSON(), nullable=False),
)
sa.Index("ix_erasures_scope_period", erasures.c.scope, erasures.c.period_id)

# SHA-256 of each registered model version's files (core/ml/integrity.py): a version whose files differ is refused.
model_digests = sa.Table(
    "model_digests",
    metadata,
    sa.Column("version", sa.String(32), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# The web page's sessions (migration 0008): the signed cookie names a random session id, and a session counts only
# while its row here is neither ended nor expired, so signing out, an admin, or revoking the token behind it ends
# it on the server. Only a SHA-256 of the id is stored; nothing about students.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("session_sha256", sa.String(64), primary_key=True),
    # "token:<token_id>" or "oidc:<subject>", as the access log names principals.
    sa.Column("principal", sa.String(200), nullable=False),
    # The token it was opened with (None for an OpenID Connect session).
    sa.Column("token_id", sa.String(16), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_web_sessions_principal", web_sessions.c.principal)
sa.Index("ix_web_sessions_token", web_sessions.c.token_id)

# A learning platform's activity (core/activity/): events counted on arrival into one row per student, course, day
# and kind of activity; the events themselves (URLs, IP addresses, user agents) are never stored. ``period_id`` is
# the course's term the day falls in (or leads up to), so erasure and retention reach these rows as any student's.
activity_daily = sa.Table(
    "activity_daily",
    metadata,
    *_key_columns(),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("events", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "course_id", "period_id", "day", "kind", name="pk_activity_daily"),
)
sa.Index("ix_activity_daily_course", activity_daily.c.course_id, activity_daily.c.period_id, activity_daily.c.day)

# Which events were already counted, so a re-sent file or overlapping increments count nothing twice: a 64-bit
# hash of the format and the event's own id (or of its content, where a format has none). No student id.
activity_seen = sa.Table(
    "activity_seen",
    metadata,
    sa.Column("event_key", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("period_id", sa.String(128), nullable=False),
)
sa.Index("ix_activity_seen_period", activity_seen.c.period_id)
