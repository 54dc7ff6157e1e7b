"""Model inputs: which catalog columns a stage may use, and how they are put on one scale across courses and weeks.

Only catalog inputs (``use: feature``) known at a stage are ever inputs, with the term position (``term_week``);
labels (``final_grade``) and anything derived from them never are, nor are ``audit`` columns. Interim grades are
divided by the course's ``grade_max`` so courses graded 0-20 and 0-100 mix; counts that grow through a term
(``accumulates: true``: absences, logins) become rates per week of term elapsed, so a week-3 count and an
end-of-term count mean the same thing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from passcompass_assets.core.catalog import Column, load_catalog
from passcompass_assets.core.ml.stages import Stage
from passcompass_assets.core.records import TERM_WEEK  # weeks since the period started; always known

INTERIM_GRADES = ("interim_grade_1", "interim_grade_2")
GRADE_COLUMNS = (*INTERIM_GRADES, "previous_grade")
SCALE_COLUMNS = ("grade_max", "pass_mark")
PASS_FRACTION = "pass_fraction"  # helper input: the pass mark as a share of the scale; not a feature
DERIVED_FROM = {"interim_trend": INTERIM_GRADES}  # what :func:`derive` computes from two inputs
COURSE = "course_id"  # the course itself: courses differ in how many fail, whatever their students do
# The first weeks count as one: a rate over three days would be noise.
MIN_WEEKS = 1.0


def candidate_columns(stage: Stage) -> list[str]:
    """The catalog's model inputs known at ``stage`` and the term position: never a label, never an ``audit``
    or ``ignore`` column."""
    return [c.name for c in load_catalog().inputs_known_at(stage.catalog_stage)] + [TERM_WEEK, COURSE]


def usable_columns(frame: pd.DataFrame, stage: Stage) -> list[str]:
    """The stage's features that carry information in ``frame``: present, not all missing, not constant.

    Data sets differ in what they record (UCI has no attendance rate, the client's data no alcohol use), so
    the columns are chosen at fit time and remembered with the model.
    """
    return [c for c in candidate_columns(stage) if c in frame.columns and frame[c].dropna().nunique() > 1]


def is_categorical(column: Column | None) -> bool:
    return column is not None and (column.type == "category" or column.name == COURSE)


_YES_NO = {"true": 1.0, "yes": 1.0, "y": 1.0, "t": 1.0, "1": 1.0, "false": 0.0, "no": 0.0, "n": 0.0, "f": 0.0, "0": 0.0}


def as_floats(values: pd.Series, *, yes_no: bool) -> pd.Series:
    """Floats with NaN for missing, whatever the source dtype (nullable, object, database text)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype("Float64").astype(float) if values.dtype != float else values
    codes, distinct = pd.factorize(values)  # text: convert each distinct value once
    plain = pd.Series(distinct, dtype=object)
    if yes_no:
        plain = plain.map(lambda v: _YES_NO.get(v.strip().lower(), np.nan) if isinstance(v, str) else v)
    numbers = pd.to_numeric(plain, errors="coerce").to_numpy(dtype=float)
    return pd.Series(np.append(numbers, np.nan)[codes], index=values.index)


def model_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Typed, scale-free inputs for ``columns`` (missing ones become empty), plus the pass fraction."""
    catalog = load_catalog().by_name
    grade_max = pd.to_numeric(frame["grade_max"], errors="coerce").astype(float)
    weeks = (
        as_floats(frame[TERM_WEEK], yes_no=False).clip(lower=MIN_WEEKS)
        if TERM_WEEK in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    out: dict[str, pd.Series] = {}
    for name in columns:
        column = catalog.get(name)
        values = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
        if is_categorical(column):
            values = values.astype(object)
            out[name] = values.where(values.notna(), np.nan)
            continue
        numeric = as_floats(values, yes_no=column is not None and column.type == "boolean")
        if name in INTERIM_GRADES:
            numeric = numeric / grade_max
        elif column is not None and column.accumulates:
            numeric = numeric / weeks  # a row without a term position (no period dates) keeps the count
            numeric = numeric.where(weeks.notna(), as_floats(values, yes_no=False))
        out[name] = numeric
    out[PASS_FRACTION] = pd.to_numeric(frame["pass_mark"], errors="coerce").astype(float) / grade_max
    return pd.DataFrame(out, index=frame.index)


def derive(inputs: pd.DataFrame) -> pd.DataFrame:
    """Grade features relative to the pass mark: margin, a zero flag (missed the test), and the trend.

    Runs inside the fitted pipeline, so an explanation that changes an interim grade moves all three.
    """
    out = inputs.drop(columns=[PASS_FRACTION])
    for name in INTERIM_GRADES:
        if name in inputs.columns:
            out[name] = inputs[name] - inputs[PASS_FRACTION]
            out[f"{name}_zero"] = (inputs[name] == 0).astype(float).where(inputs[name].notna())
    if all(name in inputs.columns for name in INTERIM_GRADES):
        out["interim_trend"] = inputs["interim_grade_2"] - inputs["interim_grade_1"]
    return out


def derived_columns(columns: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) names of what :func:`derive` produces from ``columns``."""
    catalog = load_catalog().by_name
    categorical = [c for c in columns if is_categorical(catalog.get(c))]
    numeric = [c for c in columns if c not in categorical]
    numeric += [f"{c}_zero" for c in INTERIM_GRADES if c in columns]
    if all(c in columns for c in INTERIM_GRADES):
        numeric.append("interim_trend")
    return numeric, categorical


def fail_label(frame: pd.DataFrame) -> np.ndarray:
    """1 where the final grade is below the course's pass mark."""
    return (frame["final_grade"].astype(float) < frame["pass_mark"].astype(float)).to_numpy(dtype=int)


def grade_share(frame: pd.DataFrame) -> np.ndarray:
    """The final grade as a share of the course's scale (the regression target)."""
    return (frame["final_grade"].astype(float) / frame["grade_max"].astype(float)).to_numpy()
