"""The access-control tables, on the operational schema's ``metadata`` (migration 0006).

Nothing here holds a student's data: tokens are stored as hashes, the access log names principals and report ids,
and an erasure is recorded with a keyed hash of the erased id (never the id itself).
"""

from __future__ import annotations

import sqlalchemy as sa

from passcompass_assets.core.db.tables import metadata

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
