"""Engagement as of a day: from the daily activity history, what was known about each student's activity on the
learning platform before that day (the catalog's ``ACTIVITY_FEATURES``), and when they were last active.

Only days before the report's date count (a day's log is complete once the day is over), so a training row and a
report on the same date see the same activity. A course none of whose activity is known by then gets no values
(its platform sends no logs: silence there says nothing); in a course with activity, a student without any has
zero events and is silent since the term began.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.catalog import ACTIVITY_FEATURES
from passcompass_assets.core.db.tables import activity_daily
from passcompass_assets.core.periods import Period

LAST_ACTIVE = "last_active_on"  # a report column, not a model input
SILENT_DAYS = 14  # a student this long without activity is named as such, whatever the model says
ACTIVITY_KEY = ["user_id", "course_id", "period_id"]


def read_activity(
    engine: Engine, course_ids: list[str] | None = None, period_ids: list[str] | None = None, until: date | None = None
) -> pd.DataFrame:
    """Events per student, course, term and day (every kind together), of these courses and terms, before
    ``until``."""
    events = sa.func.sum(activity_daily.c.events).label("events")
    keys = [activity_daily.c[name] for name in (*ACTIVITY_KEY, "day")]
    query = sa.select(*keys, events).group_by(*keys)
    if course_ids is not None:
        query = query.where(activity_daily.c.course_id.in_(course_ids))
    if period_ids is not None:
        query = query.where(activity_daily.c.period_id.in_(period_ids))
    if until is not None:
        query = query.where(activity_daily.c.day < until)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[*ACTIVITY_KEY, "day", "events"])
    frame["day"] = pd.to_datetime(frame["day"])
    frame["events"] = frame["events"].astype(np.int64)
    return frame


def with_engagement(rows: pd.DataFrame, activity: pd.DataFrame, period: Period, day: date) -> pd.DataFrame:
    """``rows`` (one course's students on ``day``) with the engagement features and ``last_active_on``, from
    ``activity`` (the course's history; only its days before ``day`` are read)."""
    rows = rows.copy()
    known = activity[activity["day"] < pd.Timestamp(day)] if not activity.empty else activity
    if rows.empty or known.empty:
        for name in (*ACTIVITY_FEATURES, LAST_ACTIVE):
            rows[name] = np.nan if name != LAST_ACTIVE else None
        return rows
    today, start = pd.Timestamp(day), pd.Timestamp(period.start_date)
    by_user = known.groupby("user_id")
    users = rows["user_id"].astype(str)

    def per_user(values: pd.Series, fill: float = 0) -> pd.Series:
        return users.map(values).fillna(fill).astype(float)

    for days in (7, 14):
        recent = known[known["day"] >= today - timedelta(days=days)].groupby("user_id")
        rows[f"active_days_last_{days}"] = per_user(recent["day"].nunique())
        rows[f"events_last_{days}"] = per_user(recent["events"].sum())
    last = users.map(by_user["day"].max())
    silent_since = last.fillna(start) if today >= start else last
    rows["days_since_active"] = (today - pd.to_datetime(silent_since)).dt.days.clip(lower=0).astype(float)
    rows["activity_before_term"] = per_user(known[known["day"] < start].groupby("user_id")["events"].sum())
    in_term = per_user(known[known["day"] >= start].groupby("user_id")["events"].sum())
    median = float(in_term.median())
    rows["activity_vs_course"] = (in_term / median).round(3) if median > 0 else np.nan
    rows[LAST_ACTIVE] = [d.date() if isinstance(d, pd.Timestamp) else None for d in last]
    return rows


def silence_reason(last_active: date | None, day: date, period: Period) -> str | None:
    """ "no activity since 7 Sep" (or, once the term is :data:`SILENT_DAYS` old, "no activity on the learning
    platform this term") for a student silent longer than that before ``day``; None otherwise."""
    if last_active is not None:
        return (
            f"no activity since {last_active.day} {last_active:%b}" if (day - last_active).days > SILENT_DAYS else None
        )
    if (day - period.start_date).days >= SILENT_DAYS:
        return "no activity on the learning platform this term"
    return None
