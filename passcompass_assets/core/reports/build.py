"""A report from scored students: risk bands, the header that says what the model knew and how far to trust it.

A report says the model version and its validation metrics, the quality-gate state ("low confidence" when no
champion passed the gate), and per student the signals the model had.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from passcompass_assets.core.activity.engagement import LAST_ACTIVE, silence_reason
from passcompass_assets.core.cadence import report_number, week_of_term
from passcompass_assets.core.ml.explain import FACTOR_SEPARATOR
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.ml.wording import ENGAGEMENT
from passcompass_assets.core.periods import Period

BANDS = ("high", "medium", "low")
COLUMNS = [
    "user_id",
    "course_id",
    "period_id",
    "fail_probability",
    "risk_band",
    "predicted_final_grade",
    "top_factors",
    "background_factors",
    "factors",
    "data_gaps",
    "signals_available",
    "data_as_of",
    "last_active_on",  # the student's last day with activity on the learning platform (empty: no logs)
]


@dataclass(frozen=True)
class ReportHeader:
    course_id: str
    period_id: str
    report_date: date
    generated_at: datetime
    report_number: int
    week_of_term: int
    period_start: date
    period_end: date
    students: int
    band_counts: dict[str, int]
    risk_thresholds: dict[str, float]
    model_version: str | None
    model_metrics: dict[str, float]
    quality_gate: str
    confidence: str  # "normal" or "low"
    signals: dict[str, int]
    drift: dict[str, object] | None = None
    warning: str | None = None
    data_as_of: date | None = None  # the latest day any of the data used describes
    grade_max: float | None = None  # the course's scale, as this report used it
    pass_mark: float | None = None
    scale_note: str | None = None  # when the scale changed since the previous report
    model_card: str | None = None  # where the model's card is (the API's path)
    new_high: int | None = None  # high now, not high in the course's report before (None: no report before)
    previous_report_date: date | None = None
    not_enough_data: int = 0  # students of whom too little is known for a probability
    model_quality: dict[str, object] | None = None  # the validation at this report's week, with its words
    course_title: str | None = None

    @property
    def summary(self) -> str:
        """ "41 students, 6 at high risk, 2 new since the last report"."""
        from passcompass_assets.core.ml.wording import report_summary

        return report_summary(self)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: dates in ISO form; no ``warning`` key when there is nothing to warn about."""
        values = asdict(self)
        values["summary"] = self.summary
        for name in ("report_date", "period_start", "period_end", "data_as_of", "previous_report_date"):
            values[name] = values[name].isoformat() if values[name] else None
        values["generated_at"] = self.generated_at.isoformat(timespec="seconds")
        if self.warning is None:
            del values["warning"]
        return values


@dataclass
class Report:
    report_id: str
    header: ReportHeader
    students: pd.DataFrame  # COLUMNS, sorted by fail probability, highest first


def _new_high(students: pd.DataFrame, previous: pd.DataFrame | None) -> int | None:
    if previous is None:
        return None
    before = set(previous.loc[previous["risk_band"] == "high", "user_id"].astype(str))
    return int(((students["risk_band"] == "high") & ~students["user_id"].astype(str).isin(before)).sum())


def quality_at(validation: dict[str, object] | None, week: int) -> dict[str, object] | None:
    """The model's validation scores at the report week nearest ``week`` (else overall), with how it was judged."""
    if not validation or not isinstance(validation.get("overall"), dict):
        return None
    listed = validation.get("weeks")
    weeks = (
        [w for w in listed if isinstance(w, dict) and isinstance(w.get("week"), int)]
        if isinstance(listed, list)
        else []
    )
    nearest = min(weeks, key=lambda w: abs(int(w["week"]) - week), default=None)
    overall = validation["overall"]
    scores: dict[str, object] = (
        dict(nearest) if nearest is not None else dict(overall) if isinstance(overall, dict) else {}
    )
    return {
        "method": validation.get("method"),
        "held_out": validation.get("held_out"),
        "trained_on": validation.get("trained_on"),
        "week": scores.pop("week", None),
        **scores,
    }


def _latest(days: pd.Series) -> date | None:
    known = pd.to_datetime(days, errors="coerce").dropna()
    return known.max().date() if len(known) else None


def risk_bands(probability: pd.Series, high: float, medium: float) -> pd.Series:
    """high, medium or low; missing where there is no probability (not enough data)."""
    values = probability.to_numpy(dtype=float)
    bands = np.select([values >= high, values >= medium], ["high", "medium"], "low").astype(object)
    bands[np.isnan(values)] = None
    return pd.Series(bands, index=probability.index, dtype=object)


def _with_silence(students: pd.DataFrame, engagement: pd.DataFrame | None, period: Period, as_of: date) -> pd.DataFrame:
    """``last_active_on`` (ISO; empty without activity logs), and the silence first among the reasons."""
    students["last_active_on"] = ""
    if engagement is None or LAST_ACTIVE not in engagement or engagement["days_since_active"].isna().all():
        return students
    last = [d if isinstance(d, date) else None for d in engagement[LAST_ACTIVE]]
    students["last_active_on"] = [d.isoformat() if d else "" for d in last]
    reasons = [silence_reason(d, as_of, period) for d in last]
    students["top_factors"] = [
        FACTOR_SEPARATOR.join(r for r in (reason, str(text or "")) if r and r != "nan") if reason else text
        for reason, text in zip(reasons, students["top_factors"], strict=True)
    ]
    students["factors"] = [
        [{"feature": "days_since_active", "area": ENGAGEMENT, "kind": "reason", "text": reason}, *listed]
        if reason else listed
        for reason, listed in zip(reasons, students["factors"], strict=True)
    ]  # fmt: skip
    return students


def build_report(
    scored: pd.DataFrame,
    *,
    course_id: str,
    period: Period,
    as_of: date,
    model: ModelInfo | None,
    risk_high: float,
    risk_medium: float,
    data_as_of: pd.Series | None = None,
    drift: dict[str, object] | None = None,
    scale: tuple[float, float] | None = None,
    scale_note: str | None = None,
    number: int | None = None,
    previous: pd.DataFrame | None = None,
    title: str | None = None,
    engagement: pd.DataFrame | None = None,
) -> Report:
    """``scored``: one row per student with fail_probability, predicted_final_grade, top_factors (text),
    signals_available. ``model``: what to say about the model used (None: no model). ``number``: the report's
    place among the term's report dates (default: among the scheduled ones); ``previous``: the course's report
    before it (user_id, risk_band, and its date in ``attrs["report_date"]``), for who is new to high risk.
    ``engagement``: the rows' ``last_active_on`` and ``days_since_active`` (aligned with ``scored``), when the
    course's activity is known: a student silent too long is named so first among the reasons, whatever the
    probability."""
    model = model or ModelInfo()
    students = scored.copy()
    for column, empty in (("background_factors", ""), ("factors", "[]"), ("data_gaps", "")):
        if column not in students:  # a model from before these were kept
            students[column] = empty
    students["factors"] = [json.loads(str(text or "[]")) for text in students["factors"]]
    students["course_id"] = course_id
    students["period_id"] = period.period_id
    students["risk_band"] = risk_bands(students["fail_probability"], risk_high, risk_medium)
    dates = data_as_of if data_as_of is not None else pd.Series(as_of, index=students.index)
    students["data_as_of"] = pd.to_datetime(dates, errors="coerce").dt.strftime("%Y-%m-%d")
    students = _with_silence(students, engagement, period, as_of)
    students["fail_probability"] = students["fail_probability"].round(4)
    students["predicted_final_grade"] = students["predicted_final_grade"].round(1)
    students = students[COLUMNS].sort_values(["fail_probability", "user_id"], ascending=[False, True])
    header = ReportHeader(
        course_id=course_id,
        period_id=period.period_id,
        report_date=as_of,
        generated_at=datetime.now(UTC),
        report_number=number or report_number(period, as_of),
        week_of_term=week_of_term(period, as_of),
        period_start=period.start_date,
        period_end=period.end_date,
        students=len(students),
        band_counts={band: int((students["risk_band"] == band).sum()) for band in BANDS},
        risk_thresholds={"high": risk_high, "medium": risk_medium},
        model_version=model.version,
        model_metrics=model.metrics,
        quality_gate=model.gate,
        confidence=model.confidence,
        signals={str(k): int(v) for k, v in students["signals_available"].value_counts().items()},
        drift=drift,
        warning=model.warning,
        data_as_of=_latest(students["data_as_of"]) or as_of,
        grade_max=scale[0] if scale else None,
        pass_mark=scale[1] if scale else None,
        scale_note=scale_note,
        model_card=f"/api/v1/models/{model.version}/card" if model.version else None,
        new_high=_new_high(students, previous),
        previous_report_date=previous.attrs.get("report_date") if previous is not None else None,
        not_enough_data=int(students["fail_probability"].isna().sum()),
        model_quality=quality_at(model.validation, week_of_term(period, as_of)),
        course_title=title,
    )
    return Report(report_id=str(uuid.uuid4()), header=header, students=students.reset_index(drop=True))
