"""report requests carry their outcome; the feedback loop records how far it has caught up

Nothing accepted may be stuck: the sensors relaunch what is not done, so a request needs a status of its own
(not a sensor cursor), and evaluation and retraining need to know which final grades they have seen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_requests") as batch:
        # Requests made before this migration were handled by the cursor-driven sensor.
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="done"))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("report_requests") as batch:
        batch.alter_column("status", server_default="requested")
        batch.create_index("ix_report_requests_status", ["status"])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("work_key", sa.String(400), nullable=True))
        batch.create_unique_constraint("uq_reports_work_key", ["work_key"])
    op.create_table(
        "feedback_state",
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    op.drop_table("feedback_state")
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("uq_reports_work_key", type_="unique")
        batch.drop_column("work_key")
    with op.batch_alter_table("report_requests") as batch:
        batch.drop_index("ix_report_requests_status")
        batch.drop_column("finished_at")
        batch.drop_column("error")
        batch.drop_column("status")
