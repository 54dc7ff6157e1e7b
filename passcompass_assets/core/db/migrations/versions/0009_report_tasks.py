"""the ledger of course reports to make, so a report day's courses run in batches and a failing course alone retries

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_tasks",
        sa.Column("work_key", sa.String(400), primary_key=True),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("period_id", sa.String(128), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("given_up", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report_id", sa.String(36), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_report_tasks_status_batch", "report_tasks", ["status", "batch_id"])
    op.create_index("ix_report_tasks_course", "report_tasks", ["course_id", "period_id"])
    op.create_index("ix_report_tasks_request", "report_tasks", ["request_id"])


def downgrade() -> None:
    op.drop_table("report_tasks")
