"""courses with their own scale and title; enrolment status; the dated history of every student's record

The catalog's feature columns of ``student_records`` and ``record_versions`` are not listed here: they follow
the effective catalog (built-in plus a deployment's), and ``core/db/catalog_schema.py`` adds them after the
migrations, in the same upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("title", sa.String(256), nullable=True))
        batch.add_column(sa.Column("confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("scale_changed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("student_records") as batch:
        batch.add_column(sa.Column("enrolment_status", sa.String(32), nullable=True))
        batch.add_column(sa.Column("withdrawal_date", sa.Date(), nullable=True))
    op.create_table(
        "record_versions",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("period_id", sa.String(128), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("source_seq", sa.Integer(), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=True),
        sa.Column("enrolment_status", sa.String(32), nullable=True),
        sa.Column("withdrawal_date", sa.Date(), nullable=True),
        sa.Column("source_upload_id", sa.String(36), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "course_id", "period_id", "valid_from", "source_seq", name="pk_record_versions"
        ),
    )
    op.create_index("ix_record_versions_course", "record_versions", ["course_id", "period_id", "valid_from"])
    op.create_index("ix_record_versions_seq", "record_versions", ["source_seq"])


def downgrade() -> None:
    op.drop_index("ix_record_versions_seq", table_name="record_versions")
    op.drop_index("ix_record_versions_course", table_name="record_versions")
    op.drop_table("record_versions")
    with op.batch_alter_table("student_records") as batch:
        batch.drop_column("withdrawal_date")
        batch.drop_column("enrolment_status")
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("scale_changed_at")
        batch.drop_column("confirmed")
        batch.drop_column("title")
