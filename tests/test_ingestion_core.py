"""Receiving and applying uploads against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from passcompass_assets.core.db.tables import final_grades, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload


def test_receive_and_apply(engine, store, default_period):
    content = b"user_id,course_id,age,G1,G3\nu1,c1,17,12,14\nu2,c1,18,8,7\n"
    receipt = receive_upload(engine, store, content)
    assert receipt.status == "received" and receipt.rows == 2
    # Final grades in student data are not stored: they come only through the final-grades route.
    assert "G3" in receipt.dropped_columns and any("/api/v1/final-grades" in w for w in receipt.warnings)
    applied = apply_upload(engine, store, receipt.upload_id)
    assert applied.student_rows == 2 and applied.grade_rows == 0
    grades = receive_upload(engine, store, b"user_id,course_id,G3\nu1,c1,14\nu2,c1,7\n", kind="final_grades")
    assert apply_upload(engine, store, grades.upload_id).grade_rows == 2
    with engine.connect() as conn:
        rows = conn.execute(sa.select(student_records).order_by(student_records.c.user_id)).all()
        grades = conn.execute(sa.select(final_grades)).all()
        statuses = set(conn.execute(sa.select(uploads.c.status)).scalars())
    assert [(r.user_id, r.age, r.interim_grade_1) for r in rows] == [("u1", 17, 12.0), ("u2", 18, 8.0)]
    assert len(grades) == 2 and statuses == {"processed"}


def test_migrations_match_the_schema(database_url):
    """The Alembic migrations create exactly the tables core.db defines (no pending autogenerate diff)."""
    from alembic import command

    from passcompass_assets.core.db.migrate import alembic_config

    command.check(alembic_config(database_url))
