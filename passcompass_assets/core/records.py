"""The stored state of students, as the model and the checks read it: per course, with the course's grade scale."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import courses, student_records


def course_records(engine: Engine, course_id: str, period_id: str) -> pd.DataFrame:
    """Current records of a course's students with the course's grade scale, by user id."""
    query = (
        sa.select(student_records, courses.c.grade_max, courses.c.pass_mark)
        .join(
            courses,
            sa.and_(
                courses.c.course_id == student_records.c.course_id, courses.c.period_id == student_records.c.period_id
            ),
        )
        .where(student_records.c.course_id == course_id, student_records.c.period_id == period_id)
        .order_by(student_records.c.user_id)
    )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def records_of_courses(engine: Engine, course_ids: list[str]) -> pd.DataFrame:
    """Current records of every student of these courses (all periods), as stored."""
    query = sa.select(student_records).where(student_records.c.course_id.in_(course_ids))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
