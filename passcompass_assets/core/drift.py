"""Feature drift with Evidently: a course's current features against the model's training data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.keys import ReportKey, file_name
from passcompass_assets.core.ml.features import as_floats
from passcompass_assets.core.ml.training_data import own_training_rows
from passcompass_assets.core.periods import Period
from passcompass_assets.core.records import TERM_WEEK, scoring_rows, term_week

MIN_REFERENCE_ROWS = 50  # past students of the course at that week, for a distribution worth comparing with
METHOD = re.compile(r"ValueDrift\(column=(?P<column>.+?),method=(?P<method>.+?),threshold=(?P<threshold>[\d.e-]+)\)")


@dataclass
class DriftSummary:
    columns: int
    drifted_columns: list[str] = field(default_factory=list)
    share: float = 0.0
    flagged: bool = False
    threshold: float = 0.5
    html: str | None = None  # Evidently's own report, when one was made

    @property
    def summary(self) -> str:
        if not self.columns:
            return "no reference data"
        names = ", ".join(self.drifted_columns) or "none"
        return f"{len(self.drifted_columns)} of {self.columns} features drifted ({self.share:.0%}): {names}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "summary": self.summary}


def comparable_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Features known from the start of a term that both sides carry (counts that accumulate are left out)."""
    return [
        c.name
        for c in load_catalog().inputs_known_at("start")
        if not c.accumulates
        and c.name in reference
        and c.name in current
        and reference[c.name].notna().any()
        and current[c.name].notna().any()
    ]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Evidently wants plain dtypes: numbers and yes/no (True/False or 1/0 alike) as floats, the rest strings."""
    catalog = load_catalog()
    out = {}
    for name in frame.columns:
        column = frame[name]
        if catalog[name].type in ("integer", "number", "boolean"):
            out[name] = as_floats(column, yes_no=catalog[name].type == "boolean")
        else:
            out[name] = column.astype("object").where(column.notna(), None).map(lambda v: None if v is None else str(v))
    return pd.DataFrame(out)


def same_week(rows: pd.DataFrame, week: float) -> pd.DataFrame:
    """Of training rows at every report date, those at the report date nearest to ``week`` of each period."""
    if rows.empty or TERM_WEEK not in rows:
        return rows
    distance = (rows[TERM_WEEK].astype(float) - week).abs()
    nearest = distance.groupby(rows["period_id"]).transform("min")
    return rows[distance == nearest]


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, html_path: Path | None = None, share_threshold: float = 0.5
) -> DriftSummary:
    """Run Evidently's data-drift preset; save its (self-contained) HTML report when a path is given."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = comparable_columns(reference, current)
    if not columns:
        return DriftSummary(columns=0, threshold=share_threshold)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=_plain(current[columns]), reference_data=_plain(reference[columns])
    )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        match = METHOD.match(metric["metric_name"])
        if not match or metric["value"] is None:
            continue
        threshold = float(match["threshold"])
        # p-value tests drift below their threshold; distance measures above it.
        is_drift = metric["value"] < threshold if "p_value" in match["method"] else metric["value"] >= threshold
        if is_drift:
            drifted.append(match["column"])
    share = len(drifted) / len(columns)
    return DriftSummary(
        columns=len(columns),
        drifted_columns=sorted(drifted),
        share=round(share, 4),
        flagged=share >= share_threshold,
        threshold=share_threshold,
    )


def course_drift(
    engine: Engine,
    reports_dir: Path,
    course_id: str,
    period: Period,
    day: date,
    share_threshold: float,
    current: pd.DataFrame | None = None,
) -> DriftSummary:
    """A course's students on ``day`` (``current``, when the caller has read them) against the same course's
    labelled past students at the same point of their term (the data the model learnt from); no reference when
    the course has no labelled past (or too little)."""
    current = scoring_rows(engine, course_id, period, day) if current is None else current
    reference = same_week(own_training_rows(engine, course_id, week=term_week(period, day)), term_week(period, day))
    if len(reference) < MIN_REFERENCE_ROWS or current.empty:
        return DriftSummary(columns=0, threshold=share_threshold)
    html = reports_dir / "drift" / f"{file_name(ReportKey(course_id, period.period_id, day).key)}.html"
    result = feature_drift(reference, current, html, share_threshold)
    result.html = str(html)
    return result
