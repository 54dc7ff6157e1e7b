"""reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:45:48.686988
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_requests",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("period_id", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("request_id"),
    )
    op.create_table(
        "reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("period_id", sa.String(length=128), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("report_number", sa.Integer(), nullable=False),
        sa.Column("week_of_term", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("students", sa.Integer(), nullable=False),
        sa.Column("band_counts", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_course_period_date", ["course_id", "period_id", "report_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_course_period_date")

    op.drop_table("reports")
    op.drop_table("report_requests")
