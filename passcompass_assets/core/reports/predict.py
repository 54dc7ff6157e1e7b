"""Predict on demand: rows validated exactly like an upload, scored by the champion, and nothing stored.

No upload row, no landed file, no record, no log line with a value: the answer is the only trace. Each row takes
its course's grade scale (a course not known yet: the default scale), and is scored as known today.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.courses import scales
from passcompass_assets.core.ingest.validation import ValidatedUpload
from passcompass_assets.core.reports.build import risk_bands
from passcompass_assets.core.reports.service import ScoringModel
from passcompass_assets.core.settings import Settings


@dataclass(frozen=True)
class Prediction:
    row: int  # as a spreadsheet counts: the header is row 1
    user_id: str
    course_id: str
    period_id: str
    fail_probability: float | None
    risk_band: str | None
    predicted_final_grade: float | None
    grade_max: float
    top_factors: list[str]
    background_factors: list[str]
    signals_available: str


def predict(engine: Engine, settings: Settings, model: ScoringModel, validated: ValidatedUpload) -> list[Prediction]:
    frame = validated.frame.reset_index(drop=True)
    known = scales(engine, sorted({(c, p) for c, p in zip(frame["course_id"], frame["period_id"], strict=True)}))
    pairs = list(zip(frame["course_id"], frame["period_id"], strict=True))
    default = (settings.default_grade_max, settings.default_pass_mark)
    frame["grade_max"] = [known.get(pair, default)[0] for pair in pairs]
    frame["pass_mark"] = [known.get(pair, default)[1] for pair in pairs]
    scored = model.score(frame).reset_index(drop=True)
    probability = pd.to_numeric(scored["fail_probability"], errors="coerce")
    bands = risk_bands(probability.fillna(0.0), settings.risk_high, settings.risk_medium).where(probability.notna())
    return [
        Prediction(
            row=index + 2,
            user_id=str(frame.at[index, "user_id"]),
            course_id=str(frame.at[index, "course_id"]),
            period_id=str(frame.at[index, "period_id"]),
            fail_probability=None if pd.isna(probability[index]) else round(float(probability[index]), 4),
            risk_band=None if pd.isna(bands[index]) else str(bands[index]),
            predicted_final_grade=_rounded(scored.at[index, "predicted_final_grade"]),
            grade_max=float(frame.at[index, "grade_max"]),
            top_factors=_listed(scored.at[index, "top_factors"]),
            background_factors=_listed(scored.get("background_factors", pd.Series("", index=scored.index)).iloc[index]),
            signals_available=str(scored.at[index, "signals_available"]),
        )
        for index in range(len(frame))
    ]


def _listed(text: object) -> list[str]:
    return [factor for factor in str(text or "").split("; ") if factor and factor != "nan"]


def _rounded(value: object) -> float | None:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return None if pd.isna(number) else round(float(number), 1)
