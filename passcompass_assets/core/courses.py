"""Courses: each belongs to a period and has a grade scale; registered by the first upload that names it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import courses
from passcompass_assets.core.periods import require_declared

# The bounds a course's scale and title are held to, by the API's schema and the courses page alike.
MAX_GRADE = 10_000.0
MAX_TITLE_LENGTH = 256


@dataclass(frozen=True)
class Course:
    course_id: str
    period_id: str
    grade_max: float
    pass_mark: float
    created_at: datetime
    title: str | None = None
    confirmed: bool = False  # False while it has the defaults it got when an upload first named it
    scale_changed_at: datetime | None = None


def _course(row: sa.Row) -> Course:
    return Course(
        row.course_id, row.period_id, row.grade_max, row.pass_mark, row.created_at, row.title, bool(row.confirmed),
        row.scale_changed_at,
    )  # fmt: skip


def get_course(engine: Engine, course_id: str, period_id: str) -> Course | None:
    query = sa.select(courses).where(courses.c.course_id == course_id, courses.c.period_id == period_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _course(row) if row else None


def list_courses(engine: Engine, period_id: str | None = None) -> list[Course]:
    query = sa.select(courses).order_by(courses.c.period_id, courses.c.course_id)
    if period_id is not None:
        query = query.where(courses.c.period_id == period_id)
    with engine.connect() as conn:
        return [_course(row) for row in conn.execute(query)]


def set_course(
    engine: Engine, course_id: str, period_id: str, grade_max: float, pass_mark: float, title: str | None = None
) -> tuple[Course, bool]:
    """Declare a course's scale (and title): it is confirmed from now on. Returns it and whether it is new.
    Reports already made keep the scale they used; the next ones use this one and say that it changed. Its period
    must be declared (:class:`~passcompass_assets.core.errors.Rejected` naming the closest ones otherwise)."""
    if not 0 < pass_mark <= grade_max:
        raise ValueError("the pass mark must be above 0 and at most grade_max")
    require_declared(engine, period_id)
    now = datetime.now(UTC)
    before = get_course(engine, course_id, period_id)
    values: dict[str, object] = {"grade_max": grade_max, "pass_mark": pass_mark, "title": title, "confirmed": True}
    if before is not None and (before.grade_max, before.pass_mark) != (grade_max, pass_mark):
        values["scale_changed_at"] = now
    with engine.begin() as conn:
        if before is None:
            conn.execute(courses.insert().values(course_id=course_id, period_id=period_id, created_at=now, **values))
        else:
            conn.execute(
                courses.update()
                .where(courses.c.course_id == course_id, courses.c.period_id == period_id)
                .values(**values)
            )
    stored = get_course(engine, course_id, period_id)
    if stored is None:
        raise RuntimeError(f"course {course_id} vanished")
    return stored, before is None


def ensure_course(
    engine: Engine, course_id: str, period_id: str, grade_max: float, pass_mark: float, title: str | None
) -> bool:
    """A course a roster names: created with the default scale, not confirmed (a data officer sets its scale), or,
    when it exists, given its title; whether it is new. Its period must be declared."""
    before = get_course(engine, course_id, period_id)
    with engine.begin() as conn:
        if before is None:
            values = {"grade_max": grade_max, "pass_mark": pass_mark, "title": title, "created_at": datetime.now(UTC)}
            conn.execute(courses.insert().values(course_id=course_id, period_id=period_id, **values))
        elif title and before.title != title:
            where = (courses.c.course_id == course_id) & (courses.c.period_id == period_id)
            conn.execute(courses.update().where(where).values(title=title))
    return before is None


def scales(engine: Engine, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float]]:
    """(grade_max, pass_mark) of the known courses among ``pairs`` (only those courses are read)."""
    wanted = set(pairs)
    names = sorted({course_id for course_id, _ in wanted})
    found: dict[tuple[str, str], tuple[float, float]] = {}
    with engine.connect() as conn:
        for start in range(0, len(names), 500):  # bounded parameter lists
            query = sa.select(courses.c.course_id, courses.c.period_id, courses.c.grade_max, courses.c.pass_mark)
            for row in conn.execute(query.where(courses.c.course_id.in_(names[start : start + 500]))):
                if (row.course_id, row.period_id) in wanted:
                    found[(row.course_id, row.period_id)] = (row.grade_max, row.pass_mark)
    return found


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
