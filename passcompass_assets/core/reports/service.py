"""Make one course report: read the course's records, score them, build, render and store the report."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.periods import Period, list_periods
from passcompass_assets.core.records import course_records
from passcompass_assets.core.reports.build import ModelInfo, build_report
from passcompass_assets.core.reports.store import ReportRecord, get_report, report_for_work, store_report
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


def find_period(engine: Engine, period_id: str, frame: pd.DataFrame, as_of: date) -> Period:
    """The period's dates; a period never declared spans its data (so a report can still be numbered)."""
    known = {p.period_id: p for p in list_periods(engine)}
    if period_id in known:
        return known[period_id]
    dates = pd.to_datetime(frame["as_of_date"], errors="coerce").dropna() if "as_of_date" in frame else []
    start = min(dates).date() if len(dates) else as_of
    return Period(period_id, min(start, as_of), max(as_of, start) + timedelta(days=1), 3)


def generate_report(
    engine: Engine,
    settings: Settings,
    model: ScoringModel | None,
    course_id: str,
    period_id: str,
    as_of: date,
    drift: dict[str, object] | None = None,
    work_key: str | None = None,
) -> ReportRecord:
    """Score the course's records, then render, store and index the report. ``work_key`` (a scheduled date or a
    request) makes it idempotent: the report already made for that key is returned instead of a second one."""
    if work_key and (existing := report_for_work(engine, work_key)) is not None:
        return existing
    frame = course_records(engine, course_id, period_id)
    if frame.empty:
        raise ValueError(f"course {course_id!r} has no students in period {period_id!r}")
    if model is None:
        raise NoModelError(
            "no fail-risk model has been trained yet: materialise fail_risk_model (or `passcompass train`)"
        )
    scored = model.score(frame)
    report = build_report(
        scored.assign(user_id=frame["user_id"].to_numpy()),
        course_id=course_id,
        period=find_period(engine, period_id, frame, as_of),
        as_of=as_of,
        model=model.info,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
        data_as_of=frame.get("as_of_date"),
        drift=drift,
    )
    report_id = store_report(engine, settings.reports_dir, report, work_key)
    stored = get_report(engine, report_id)
    if stored is None:  # written a moment ago in this very process
        raise RuntimeError(f"report {report_id} vanished from the index")
    return stored
