"""Make one course report: the course's students as known on the report date, scored, built, rendered, stored.

A report for a date uses only the versions of the records dated on or before it, so a report made later for a past
date (a backfill, ``passcompass report --as-of``) equals the one made on that date. Students who had withdrawn by
then are left out. The header gives the true latest date of the data used and the course's grade scale.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.courses import Course, get_course
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.periods import Period, find_period
from passcompass_assets.core.records import read_versions, scoring_rows, spanning_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.store import ReportRecord, get_report, list_reports, report_for_work, store_report
from passcompass_assets.core.reports.term import report_rows
from passcompass_assets.core.settings import Settings


class ScoringModel(Protocol):
    """What a report needs of a model: scores per student, and what to say about the model."""

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``frame``: fail_probability, predicted_final_grade, top_factors, signals_available."""
        ...

    @property
    def info(self) -> ModelInfo: ...


class NoModelError(RuntimeError):
    """No model has been trained yet: a report would have nothing honest to say."""


def report_period(engine: Engine, period_id: str, course_id: str, as_of: date) -> Period:
    """The period's dates; a period never declared spans its course's data (so a report can still be numbered)."""
    if (declared := find_period(engine, period_id)) is not None:
        return declared
    versions = read_versions(engine, course_id, period_id)
    if versions.empty:
        return Period(period_id, as_of, as_of + timedelta(days=1), 3)
    spanned = spanning_period(period_id, versions)
    return Period(period_id, min(spanned.start_date, as_of), max(spanned.end_date, as_of + timedelta(days=1)), 3)


def _scale_note(engine: Engine, course: Course | None, as_of: date) -> str | None:
    """Says so when the course's scale changed since its previous report (old reports are never rewritten)."""
    if course is None:
        return None
    earlier = [r for r in list_reports(engine, course.course_id, course.period_id) if r.report_date < as_of]
    before = earlier[0].header if earlier else {}
    if before.get("grade_max") in (None, course.grade_max) and before.get("pass_mark") in (None, course.pass_mark):
        return None
    return (
        f"The course's grade scale changed: this report uses 0-{course.grade_max:g} with a pass at "
        f"{course.pass_mark:g}; earlier reports used 0-{before['grade_max']:g} with a pass at {before['pass_mark']:g}."
    )


def _previous_rows(
    engine: Engine, settings: Settings, course_id: str, period_id: str, as_of: date
) -> pd.DataFrame | None:
    """The student rows of the course period's latest report before ``as_of`` (its date in ``attrs``), or None."""
    earlier = [r for r in list_reports(engine, course_id, period_id) if r.report_date < as_of]
    if not earlier:
        return None
    rows = report_rows(settings.reports_dir, earlier[0])[["user_id", "risk_band"]].copy()
    rows.attrs["report_date"] = earlier[0].report_date
    return rows


def generate_report(
    engine: Engine,
    settings: Settings,
    model: ScoringModel | None,
    course_id: str,
    period_id: str,
    as_of: date,
    drift: dict[str, object] | None = None,
    work_key: str | None = None,
    rows: pd.DataFrame | None = None,
) -> ReportRecord:
    """Score the course's students as known on ``as_of``, then render, store and index the report. ``work_key``
    (a scheduled date or a request) makes it idempotent: the report already made for that key is returned. A
    course has one report per date: asking again for a date replaces its report with one from the data now known
    for that date (same id). ``rows``: the course's rows on ``as_of`` when the caller has read them already."""
    if work_key and (existing := report_for_work(engine, work_key)) is not None:
        return existing
    period = report_period(engine, period_id, course_id, as_of)
    frame = scoring_rows(engine, course_id, period, as_of) if rows is None else rows
    if frame.empty:
        raise ValueError(f"course {course_id!r} has no enrolled students in period {period_id!r} on {as_of}")
    if model is None:
        raise NoModelError(
            "no fail-risk model has been trained yet: materialise fail_risk_model (or `passcompass train`)"
        )
    scored = model.score(frame)
    course = get_course(engine, course_id, period_id)
    report = build_report(
        scored.assign(user_id=frame["user_id"].to_numpy()),
        course_id=course_id,
        period=period,
        as_of=as_of,
        model=model.info,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
        data_as_of=frame["valid_from"],
        drift=drift,
        scale=(course.grade_max, course.pass_mark) if course else None,
        scale_note=_scale_note(engine, course, as_of),
        previous=_previous_rows(engine, settings, course_id, period.period_id, as_of),
        title=course.title if course else None,
        engagement=frame.reset_index(drop=True),
    )
    report_id = store_report(engine, settings.reports_dir, report, work_key)
    stored = get_report(engine, report_id)
    if stored is None:  # written a moment ago in this very process
        raise RuntimeError(f"report {report_id} vanished from the index")
    return stored
