"""the instructor's workspace: actions staff took on a flag, and which report notifications went out

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "student_actions",
        sa.Column("action_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("period_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_student_actions_course", "student_actions", ["course_id", "period_id", "user_id"])
    op.create_table(
        "report_notifications",
        sa.Column("report_id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("report_notifications")
    op.drop_index("ix_student_actions_course", table_name="student_actions")
    op.drop_table("student_actions")
