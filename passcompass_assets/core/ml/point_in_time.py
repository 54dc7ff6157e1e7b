"""Rows as of a date: what the model learns from and what a report scores are built by this one function.

A training row is a labelled student of a past period as known on one of that period's report dates; a report
row is a student of the current period as known on the report's date. Both are :func:`rows_as_of` over the
same kind of data (the dated versions of the student's record), with the term position the model knows
(``term_week``: weeks since the period started) and without students who had withdrawn by then.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.periods import Period
from passcompass_assets.core.records import as_of, carried_columns, enrolled, read_versions, with_scale

TERM_WEEK = "term_week"  # weeks since the period started, on the row's date (a model input)
REPORT_DATE = "report_date"


def term_week(period: Period, day: date) -> float:
    return round(max(0.0, (day - period.start_date).days / 7), 3)


def rows_as_of(versions: pd.DataFrame, carried: dict[int, frozenset[str]], period: Period, day: date) -> pd.DataFrame:
    """Every student still enrolled on ``day``, as known on ``day``, with the term position."""
    rows = as_of(versions, carried, day)
    rows = rows[enrolled(rows, day)].reset_index(drop=True)
    rows[TERM_WEEK] = term_week(period, day)
    rows[REPORT_DATE] = day
    return rows


def spanning_period(period_id: str, versions: pd.DataFrame) -> Period:
    """A period never declared: from its first to its last snapshot (so its rows still have a term position)."""
    days = pd.to_datetime(versions["valid_from"]).dt.date
    start, end = min(days), max(days)
    return Period(period_id, start, max(end, start + timedelta(days=1)), 3)


def scoring_rows(engine: Engine, course_id: str, period: Period, day: date) -> pd.DataFrame:
    """A course's students as a report on ``day`` scores them, with the course's grade scale."""
    versions = read_versions(engine, course_id, period.period_id, until=day)
    rows = rows_as_of(versions, carried_columns(engine, versions["source_seq"]), period, day)
    return with_scale(engine, rows).sort_values("user_id").reset_index(drop=True)


def training_rows(
    history: pd.DataFrame,
    carried: dict[int, frozenset[str]],
    periods: dict[str, Period],
    days: list[date] | None = None,
) -> pd.DataFrame:
    """``history``: versions of labelled students (with their final grade and course scale). One row per student
    still enrolled on each report date of their period (or on ``days``), as known then."""
    labels = [c for c in ("final_grade", "grade_max", "pass_mark") if c in history.columns]
    frames = []
    for (_course_id, period_id), versions in history.groupby(["course_id", "period_id"], sort=True):
        period = periods.get(str(period_id)) or spanning_period(str(period_id), versions)
        outcome = versions.drop_duplicates(["user_id"])[["user_id", *labels]]
        for day in days if days is not None else report_dates(period):
            rows = rows_as_of(versions.drop(columns=labels), carried, period, day)
            if not rows.empty:
                frames.append(rows.merge(outcome, on="user_id", how="inner"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
