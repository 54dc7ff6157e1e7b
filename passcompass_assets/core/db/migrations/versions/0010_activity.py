"""a learning platform's activity, counted per student, course, day and kind, and the events already counted

Revision ID: 0010
Revises: 0009
Create Date: 2027-02-15 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_daily",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("period_id", sa.String(128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "course_id", "period_id", "day", "kind", name="pk_activity_daily"),
    )
    op.create_index("ix_activity_daily_course", "activity_daily", ["course_id", "period_id", "day"])
    op.create_table(
        "activity_seen",
        sa.Column("event_key", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("period_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_activity_seen_period", "activity_seen", ["period_id"])


def downgrade() -> None:
    op.drop_index("ix_activity_seen_period", table_name="activity_seen")
    op.drop_table("activity_seen")
    op.drop_index("ix_activity_daily_course", table_name="activity_daily")
    op.drop_table("activity_daily")
