"""What the model learns from: the institution's own labelled periods, one row per student and report date as
known then, and, while the institution has few labels of its own, the public UCI data as a cold-start prior.

The prior is dropped once the institution has :data:`MIN_OWN_STUDENTS` labelled students: a university is judged
and served on its own students. UCI records describe a whole school year, so their rows sit at week
:data:`UCI_TERM_WEEK` of the term (their yearly counts become rates over it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.activity.engagement import read_activity
from passcompass_assets.core.datasets.uci import UCI_PERIOD_ID, UciDataUnavailable, initial_training_frame
from passcompass_assets.core.marts import course_periods_of, read_table
from passcompass_assets.core.periods import list_periods
from passcompass_assets.core.records import TERM_WEEK, carried_columns, training_rows
from passcompass_assets.core.settings import Settings

log = logging.getLogger("passcompass.training")
MIN_OWN_STUDENTS = 200  # labelled students of its own before the prior is dropped
UCI_TERM_WEEK = 33.0  # a Portuguese school year, in weeks


@dataclass(frozen=True)
class TrainingData:
    frame: pd.DataFrame  # every row the model is fitted on
    own: pd.DataFrame  # the institution's own rows (what validation and the gate judge on)
    prior_rows: int  # UCI rows included
    note: str  # what was used, in plain words


def initial_data_or_empty(settings: Settings) -> tuple[pd.DataFrame, str | None]:
    """The UCI data, or an empty frame and the reason (e.g. no network and PASSCOMPASS_INITIAL_DATA unset)."""
    try:
        return initial_training_frame(settings), None
    except UciDataUnavailable as exc:
        log.warning("initial training data unavailable", extra={"reason": str(exc)})
        return pd.DataFrame(), str(exc)


def _history(engine: Engine, course_id: str, period_id: str, known_by: date | None = None) -> pd.DataFrame:
    history = read_table(engine, "training_set", course_id, period_id, known_by)
    for column in ("valid_from", "as_of_date", "withdrawal_date"):
        if column in history:
            history[column] = pd.to_datetime(history[column]).dt.date
    return history


def own_training_rows(engine: Engine, course_id: str | None = None, week: float | None = None) -> pd.DataFrame:
    """One row per labelled student of the platform (of one course, when given) and report date of their period
    (or only the date ``week`` weeks into it), as known on that date, from the dbt ``training_set`` mart (the
    history of labelled students), one course period at a time."""
    try:
        pairs = course_periods_of(engine, "training_set", course_id)
    except Exception as exc:  # the mart does not exist before the first dbt build
        log.info("no training_set table yet", extra={"reason": type(exc).__name__})
        return pd.DataFrame()
    periods = {p.period_id: p for p in list_periods(engine)}
    frames = []
    for course, period_id in pairs:
        days = None
        if week is not None and (period := periods.get(period_id)) is not None:
            days = [min(period.start_date + timedelta(days=round(7 * week)), period.end_date)]
        # For one date, what was known by then is all that is read.
        history = _history(engine, course, period_id, days[0] if days else None)
        if history.empty:
            continue
        activity = read_activity(engine, [course], [period_id], until=max(days) if days else None)
        rows = training_rows(history, carried_columns(engine, history["source_seq"]), periods, days, activity)
        if not rows.empty:
            frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def students(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    return int(frame[["user_id", "course_id", "period_id"]].drop_duplicates().shape[0])


def training_data(prior: pd.DataFrame, own: pd.DataFrame) -> TrainingData:
    """The rows to fit on: the institution's own, with the prior while they are few."""
    own_students = students(own)
    use_prior = not prior.empty and own_students < MIN_OWN_STUDENTS
    if use_prior:
        prior = prior.assign(**{TERM_WEEK: UCI_TERM_WEEK})
        frame = pd.concat([f for f in (prior, own) if not f.empty], ignore_index=True, sort=False)
        note = (
            f"{own_students} labelled students of the institution's own and {len(prior)} UCI records as a "
            f"cold-start prior (dropped from {MIN_OWN_STUDENTS} own students on)"
        )
    else:
        frame = own
        note = f"{own_students} labelled students of the institution's own" + (
            "; the UCI prior is no longer used" if not prior.empty else ""
        )
    return TrainingData(frame=frame, own=own, prior_rows=len(prior) if use_prior else 0, note=note)


def is_prior(frame: pd.DataFrame) -> pd.Series:
    return frame["period_id"].astype(str) == UCI_PERIOD_ID
