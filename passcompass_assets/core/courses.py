"""Courses: each belongs to a period and has a grade scale; registered by the first upload that names it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import courses


@dataclass(frozen=True)
class Course:
    course_id: str
    period_id: str
    grade_max: float
    pass_mark: float
    created_at: datetime


def get_course(engine: Engine, course_id: str, period_id: str) -> Course | None:
    query = sa.select(courses).where(courses.c.course_id == course_id, courses.c.period_id == period_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return Course(row.course_id, row.period_id, row.grade_max, row.pass_mark, row.created_at) if row else None


def course_ids(engine: Engine, period_id: str) -> list[str]:
    """The courses of a period, by name."""
    query = sa.select(courses.c.course_id).where(courses.c.period_id == period_id).order_by(courses.c.course_id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def courses_by_period(engine: Engine) -> dict[str, list[str]]:
    """period_id -> its course ids, by name."""
    by_period: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for row in conn.execute(sa.select(courses.c.course_id, courses.c.period_id).order_by(courses.c.course_id)):
            by_period.setdefault(row.period_id, []).append(row.course_id)
    return by_period


def course_periods(engine: Engine, course_id: str) -> list[str]:
    """Periods in which a course has data, oldest first."""
    query = sa.select(courses.c.period_id).where(courses.c.course_id == course_id).order_by(courses.c.created_at)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def periods_with_courses(engine: Engine) -> list[str]:
    """Every period some upload named, the one most recently seen last."""
    query = sa.select(courses.c.period_id).group_by(courses.c.period_id).order_by(sa.func.max(courses.c.created_at))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
