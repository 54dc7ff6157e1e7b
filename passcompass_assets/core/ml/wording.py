"""What an instructor reads: a student's reasons as short sentences in the course's own units, compared with the
course at the same week, and the plain sentences of a report (its summary, the model's quality in words).

The model picks the factors (core/ml/explain.py: how far each input moves the fail probability); this module
says them: "Quiz average 14 %, course 60 %", "First interim grade 3/20, course 11/20", "Absent 12 times in 6 weeks
(about twice a week), course median 3". A value the platform does not have is never printed: the factor is not
named, and the student's "data gaps" say "No data yet on absences". Beside each sentence a structured factor
(feature, value, course value, direction, area) keeps the JSON machine-readable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

import numpy as np
import pandas as pd

from passcompass_assets.core.catalog import ACTIVITY_FEATURES, Column, load_catalog
from passcompass_assets.core.ml.features import COURSE, INTERIM_GRADES, as_floats, is_categorical
from passcompass_assets.core.records import TERM_WEEK

ENGAGEMENT: Final = "attendance and engagement"
COURSEWORK: Final = "coursework"
GRADES: Final = "grades"
BACKGROUND: Final = "background"
OTHER: Final = "other"
AREAS: Final = (ENGAGEMENT, COURSEWORK, GRADES, OTHER, BACKGROUND)  # the order reasons are listed in
AREA_LABELS: Final = {
    ENGAGEMENT: "Attendance and engagement",
    COURSEWORK: "Coursework",
    GRADES: "Grades",
    OTHER: "Other",
    BACKGROUND: "Background",
}
_AREA_OF: Final = {
    "absences": ENGAGEMENT,
    "attendance_rate": ENGAGEMENT,
    "lms_logins": ENGAGEMENT,
    "lms_active_minutes": ENGAGEMENT,
    **dict.fromkeys(ACTIVITY_FEATURES, ENGAGEMENT),
    "assignment_completion": COURSEWORK,
    "quiz_average": COURSEWORK,
    "study_time": COURSEWORK,
    "study_hours_per_week": COURSEWORK,
    "interim_grade_1": GRADES,
    "interim_grade_2": GRADES,
    "previous_grade": GRADES,
}
# What a data gap names ("No data yet on absences, quiz scores"); a deployment's own columns use their description.
_GAP_NAMES: Final = {
    "absences": "absences",
    "attendance_rate": "attendance",
    "lms_logins": "learning-platform logins",
    "lms_active_minutes": "time on the learning platform",
    **dict.fromkeys(ACTIVITY_FEATURES, "learning-platform activity"),
    "assignment_completion": "assignments handed in",
    "quiz_average": "quiz scores",
    "study_time": "study time",
    "study_hours_per_week": "study hours",
    "interim_grade_1": "the first interim grade",
    "interim_grade_2": "the second interim grade",
    "previous_grade": "the previous course's grade",
}
_STUDY_BANDS: Final = {1: "less than 2 hours", 2: "2 to 5 hours", 3: "5 to 10 hours", 4: "more than 10 hours"}
NOT_ENOUGH_DATA: Final = "not enough data"
COURSE_WORD: Final = "course"
TYPICAL_WORD: Final = "typical student"
MIN_COURSE: Final = 5  # students with a value in the course at that week, for a course median to mean something
RAISES: Final = "raises risk"


def area_of(column: Column) -> str:
    """The area a factor belongs to: attendance and engagement, coursework, grades; background for what a student
    brings along (``actionable: false``); other for the rest."""
    if not column.actionable:
        return BACKGROUND
    if column.name in _AREA_OF:
        return _AREA_OF[column.name]
    if column.on_grade_scale:
        return GRADES
    return ENGAGEMENT if column.accumulates else OTHER


def gap_name(column: Column) -> str:
    return _GAP_NAMES.get(column.name, column.description)


# --- numbers as people write them ---------------------------------------------------------------------------------


def number(value: float, decimals: int = 0) -> str:
    """12, 3.5, 1,200: no trailing zeros, no exponent."""
    rounded = round(value, decimals)
    if rounded == int(rounded):
        return f"{int(rounded):,}"
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")


def _percent(value: float) -> str:
    return f"{number(value)} %"


def _grade(value: float, grade_max: float) -> str:
    return f"{number(value, 1)}/{number(grade_max, 1)}"


def _times(count: float) -> str:
    whole = round(count)
    return "once" if whole == 1 else "twice" if whole == 2 else f"{number(count)} times"


def _how_often(count: float, weeks: float) -> str:
    """ "about twice a week", "about once every 3 weeks"."""
    rate = count / weeks
    if rate >= 0.75:
        return f"about {_times(rate)} a week"
    if rate <= 0:
        return "never"
    return f"about once every {number(1 / rate)} weeks"


def _duration(minutes: float) -> str:
    if minutes < 120:
        return f"{number(minutes)} minutes"
    return f"{number(minutes / 60)} hours"


def _weeks(weeks: float) -> str:
    whole = max(1, round(weeks))
    return "1 week" if whole == 1 else f"{whole} weeks"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plain(description: str) -> tuple[str, bool]:
    """A catalog description without its unit note, and whether it is a percentage."""
    percent = "(percent)" in description
    return description.replace("(percent)", "").strip(), percent


# --- one factor in words ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What is known to word one input of one student: their value, the course's at the same week (median, or
    most frequent value), the weeks of term elapsed and the course's scale."""

    value: float | str
    course: float | str | None
    weeks: float | None
    grade_max: float
    against: str = "course"  # or "typical student": whom ``course`` describes


def sentence(column: Column, facts: Facts) -> str:
    """One input of one student in plain words, in the course's units, beside the course at the same week."""
    name, value, course = column.name, facts.value, facts.course
    # Beside the course's students at the same week; a course too small for that, beside the typical student
    # the model learnt from at that week.
    c_, cm, ms = (
        (", course ", ", course median ", ", most students ")
        if facts.against == COURSE_WORD
        else (", typical student ",) * 3
    )
    if column.type == "boolean" or isinstance(value, str):
        return _categorical(column, value, course, ms)
    assert isinstance(value, float)
    known = isinstance(course, float) and math.isfinite(course)
    c = float(course) if known else math.nan  # type: ignore[arg-type]
    if name in INTERIM_GRADES:
        label = "First interim grade" if name == "interim_grade_1" else "Second interim grade"
        return f"{label} {_grade(value, facts.grade_max)}" + (f"{c_}{_grade(c, facts.grade_max)}" if known else "")
    if name == "absences":
        often = f" in {_weeks(facts.weeks)} ({_how_often(value, facts.weeks)})" if facts.weeks else ""
        return f"Absent {_times(value)}{often}" + (f"{cm}{number(c)}" if known else "")
    if name == "lms_logins":
        during = f" in {_weeks(facts.weeks)}" if facts.weeks else " so far"
        return f"Logged in to the learning platform {_times(value)}{during}" + (f"{cm}{number(c)}" if known else "")
    if name == "lms_active_minutes":
        during = f" in {_weeks(facts.weeks)}" if facts.weeks else " so far"
        return f"Active on the learning platform {_duration(value)}{during}" + (f"{cm}{_duration(c)}" if known else "")
    if name == "attendance_rate":
        return f"Attendance {_percent(value)}" + (f"{c_}{_percent(c)}" if known else "")
    if name == "assignment_completion":
        return f"Handed in {_percent(value)} of assignments" + (f"{c_}{_percent(c)}" if known else "")
    if name == "quiz_average":
        return f"Quiz average {_percent(value)}" + (f"{c_}{_percent(c)}" if known else "")
    if name == "previous_grade":
        return f"Grade in the previous course {_percent(value)}" + (f"{c_}{_percent(c)}" if known else "")
    if name == "study_hours_per_week":
        return f"Studies {number(value)} hours a week" + (f"{cm}{number(c)}" if known else "")
    if name == "study_time" and round(value) in _STUDY_BANDS:
        most = f"{ms}{_STUDY_BANDS[round(c)]}" if known and round(c) in _STUDY_BANDS else ""
        return f"Studies {_STUDY_BANDS[round(value)]} a week{most}"
    if name == "past_failures":
        failed = f"Failed {number(value)} course{'' if round(value) == 1 else 's'} before"
        return failed + (f"{ms}{'none' if round(c) == 0 else number(c)}" if known else "")
    return _numeric(column, value, c if known else None, facts.weeks, (c_, cm))


def _numeric(column: Column, value: float, course: float | None, weeks: float | None, words: tuple[str, str]) -> str:
    label, percent = _plain(column.description)
    shown = _percent(value) if percent else number(value, 1)
    if column.max is not None and column.min is not None and column.max <= 10 and not percent:
        shown = f"{shown} of {number(column.max)}"  # a rating scale: "going out with friends 4 of 5"
    during = f" in {_weeks(weeks)}" if column.accumulates and weeks else ""
    compared = ""
    if course is not None:
        compared = f"{words[0]}{_percent(course)}" if percent else f"{words[1]}{number(course, 1)}"
    return f"{_capitalised(label)}: {shown}{during}{compared}"


def _categorical(column: Column, value: float | str, course: float | str | None, ms: str) -> str:
    def said(v: float | str | None) -> str:
        if column.type == "boolean":
            return "yes" if isinstance(v, float) and v >= 0.5 else "no"
        return str(v).replace("_", " ")

    text = f"{_capitalised(column.description)}: {said(value)}"
    known = course is not None and not (isinstance(course, float) and math.isnan(course))
    if known and said(course) != said(value):
        text += f"{ms}{said(course)}"
    return text


# --- the course at the same week ----------------------------------------------------------------------------------


def course_values(frame: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per row of ``frame`` (raw values, the course's units), each input's value in the row's course at the row's
    week of term (the median of numbers, the most frequent category; missing where nobody in it has a value), and
    how many students of it have one."""
    catalog = load_catalog().by_name
    keys = [frame[COURSE].astype(str) if COURSE in frame else pd.Series("", index=frame.index)]
    if TERM_WEEK in frame:
        keys.append(pd.to_numeric(frame[TERM_WEEK], errors="coerce").round().fillna(-1.0))
    # The groups once for every input; a report's rows (one course, one week) are a single group: no grouping.
    groups = pd.concat(keys, axis=1, ignore_index=True).groupby(list(range(len(keys)))).ngroup()
    single = groups.nunique() <= 1
    values_out, counts_out = {}, {}
    for name in names:
        column = catalog.get(name)
        if column is None or name not in frame:
            values_out[name] = pd.Series(np.nan, index=frame.index)
            counts_out[name] = pd.Series(0, index=frame.index)
            continue
        if is_categorical(column):
            values = frame[name].astype(object).where(frame[name].notna(), None)
            values_out[name] = (
                pd.Series([_mode(values)] * len(values), index=frame.index, dtype=object)
                if single
                else values.groupby(groups).transform(_mode)
            )
        else:
            values = as_floats(frame[name], yes_no=column.type == "boolean")
            values_out[name] = (
                pd.Series(values.median(), index=frame.index, dtype=float)
                if single
                else values.groupby(groups).transform("median")
            )
        known = values.notna()
        counts_out[name] = (
            pd.Series(int(known.sum()), index=frame.index, dtype="int64")
            if single
            else known.groupby(groups).transform("sum")
        )
    return pd.DataFrame(values_out, index=frame.index), pd.DataFrame(counts_out, index=frame.index)


def _mode(values: pd.Series) -> object:
    """The most frequent value (the first in order on a tie); None where nobody has one."""
    return values.mode().iloc[0] if values.notna().any() else None


# --- a student's factors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The factors the model picked (core/ml/explain.py): per row, candidate units (indices into ``units``,
    strongest first, -1: none) for the reasons and for the background, and each input's effect."""

    units: list[tuple[str, ...]]
    reasons: np.ndarray  # rows x candidates
    background: np.ndarray  # rows x candidates
    strength: np.ndarray  # rows x units: probability points, > 0 raises the risk
    effects: dict[str, np.ndarray]  # input name -> per row, its own effect
    typical: dict[str, float | str] = field(default_factory=dict)  # the typical training student, model's scale


@dataclass(frozen=True)
class Worded:
    reasons: np.ndarray  # text per row, sentences joined by "; "
    background: np.ndarray
    factors: np.ndarray  # JSON text per row: the structured factors (reasons, then background)
    gaps: np.ndarray  # text per row: "No data yet on absences, quiz scores", or ""


def word_factors(
    choice: Choice,
    raw: pd.DataFrame,
    directions: dict[str, int],
    columns: list[str],
    *,
    context: pd.DataFrame | None = None,
    top: int = 3,
    background: int = 2,
) -> Worded:
    """Sentences and structured factors per row of ``raw`` (the rows as uploaded, with ``grade_max`` and
    ``term_week``), compared with the rows of ``context`` (default ``raw``: it must hold them) in the same course
    and week. A factor is named only when the student's value is known and sits on the side of the course's
    value that went with failing in training (``directions``): never a reason that the course comparison beside
    it contradicts, nor one at the course's own value."""
    catalog = load_catalog().by_name
    names = sorted({n for unit in choice.units for n in unit} | {c for c in columns if c in catalog})
    course, counts = course_values(raw if context is None else context, names)
    course, counts = course.loc[raw.index], counts.loc[raw.index]
    values = {n: _values(raw, catalog[n]) for n in names if n in catalog}
    weeks = (
        pd.to_numeric(raw[TERM_WEEK], errors="coerce").clip(lower=1.0).to_numpy(dtype=float)
        if TERM_WEEK in raw
        else np.full(len(raw), np.nan)
    )
    grade_max = pd.to_numeric(raw["grade_max"], errors="coerce").to_numpy(dtype=float)
    gap_columns = [
        catalog[c] for c in columns if c in catalog and area_of(catalog[c]) in (ENGAGEMENT, COURSEWORK, GRADES)
    ]
    n = len(raw)
    reasons, backgrounds = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    factors, gaps = np.full(n, "[]", dtype=object), np.full(n, "", dtype=object)
    for i in range(n):
        week = float(weeks[i]) if math.isfinite(weeks[i]) else None

        def facts(name: str, i: int = i, week: float | None = week) -> Facts | None:
            value = values[name][i]
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                return None
            if counts[name].iat[i] >= MIN_COURSE:
                against, compared = COURSE_WORD, course[name].iat[i]
            else:  # too few in the course to speak of it: the typical training student at this week
                against, compared = (
                    TYPICAL_WORD,
                    _raw_typical(choice.typical.get(name), catalog[name], week, grade_max[i]),
                )
            if compared is None or (isinstance(compared, float) and math.isnan(compared)):
                compared = None
            return Facts(value, compared, week, float(grade_max[i]), against)

        said = [_factor(choice, k, i, facts, directions, catalog, "reason") for k in choice.reasons[i] if k >= 0]
        picked = sorted([f for f in said if f is not None][:top], key=lambda f: AREAS.index(str(f["area"])))
        said_bg = [
            _factor(choice, k, i, facts, directions, catalog, "background") for k in choice.background[i] if k >= 0
        ]
        picked_bg = [f for f in said_bg if f is not None][:background]
        reasons[i] = "; ".join(str(f["text"]) for f in picked)
        backgrounds[i] = "; ".join(str(f["text"]) for f in picked_bg)
        factors[i] = json.dumps([*picked, *picked_bg], allow_nan=False)
        missing = list(dict.fromkeys(gap_name(c) for c in gap_columns if facts(c.name) is None))  # named once
        gaps[i] = f"No data yet on {', '.join(missing)}" if missing else ""
    return Worded(reasons, backgrounds, factors, gaps)


def _raw_typical(
    typical: float | str | None, column: Column, weeks: float | None, grade_max: float
) -> float | str | None:
    """The typical student's value (on the model's scale) in the course's units."""
    if typical is None or isinstance(typical, str):
        return typical
    if column.name in INTERIM_GRADES:
        return float(typical) * grade_max
    if column.accumulates:
        return float(typical) * max(weeks, 1.0) if weeks else None
    return float(typical)


def _values(raw: pd.DataFrame, column: Column) -> list[float | str | None]:
    if column.name not in raw:
        return [None] * len(raw)
    if is_categorical(column):
        return [None if pd.isna(v) else str(v) for v in raw[column.name].astype(object)]
    return as_floats(raw[column.name], yes_no=column.type == "boolean").astype(float).tolist()


def _factor(
    choice: Choice,
    unit_index: int,
    row: int,
    facts: object,
    directions: dict[str, int],
    catalog: dict[str, Column],
    kind: str,
) -> dict[str, object] | None:
    """One picked factor of one row as a structured dict with its sentence, or None when it cannot be said
    honestly (no value, or a comparison that contradicts it)."""
    unit = choice.units[unit_index]
    # Of inputs named together (attendance and absences), the one that moved this student's risk most and is known.
    ranked = sorted(unit, key=lambda name: -abs(float(choice.effects[name][row])) if name in choice.effects else 0.0)
    for name in ranked:
        known = facts(name)  # type: ignore[operator]
        if known is None:
            continue
        assert isinstance(known, Facts)
        direction = directions.get(name)
        numbers = isinstance(known.value, float) and isinstance(known.course, float)
        if direction and numbers and (float(known.value) - float(known.course or 0.0)) * direction <= 0:
            return None  # at or on the safe side of the course: not a reason, whatever the model's arithmetic
        column = catalog[name]
        return {
            "feature": name,
            "area": area_of(column),
            "value": _json_value(known.value),
            "course_value": _json_value(known.course),
            "direction": RAISES,
            "effect": round(float(choice.strength[row, unit_index]), 3),
            "kind": kind,
            "text": sentence(column, known),
        }
    return None


def _json_value(value: object) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return round(value, 2) if math.isfinite(value) else None
    return str(value)


# --- a report's plain sentences -----------------------------------------------------------------------------------


def day(value: object) -> str:
    """A date as the pages write it: "Mon 28 Sep 2026" (ISO text or a date; empty when there is none)."""
    if isinstance(value, str) and value:
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime | date):
        return f"{value:%a} {value.day} {value:%b %Y}"
    return ""


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def report_summary(header: object) -> str:
    """ "41 students, 6 at high risk, 2 new since the last report"."""
    students = int(getattr(header, "students", 0))
    bands = getattr(header, "band_counts", {}) or {}
    parts = [_count(students, "student"), f"{int(bands.get('high', 0)):,} at high risk"]
    new_high = getattr(header, "new_high", None)
    if new_high is None:
        parts.append("the term's first report")
    else:
        parts.append(f"{new_high:,} new since the last report")
    if unknown := int(getattr(header, "not_enough_data", 0) or 0):
        parts.append(f"{_count(unknown, 'student')} with not enough data for a prediction")
    return ", ".join(parts)


def _whole(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _in_ten(share: float) -> str:
    return f"{round(share * 10)} in 10"


def quality_words(quality: dict[str, object] | None) -> list[str]:
    """The model's quality at this report's week in words, for instructors: who it was judged on, how many of
    those it flagged high did not pass, how many of those who did not pass it found, how well it ranks."""
    if not quality or quality.get("method") in (None, "none") or not quality.get("students"):
        return [
            "This model has not yet been checked on students it had not seen: the institution has no term with "
            "final grades yet. Its probabilities are its best guess, not a measured record."
        ]
    term = str(quality.get("held_out") or "a past term")
    if quality.get("method") == "held-out period":
        who = f"last term's students ({term}), whom this model had not seen,"
    else:
        who = f"the students of {term}, each judged by a model that had not seen them,"
    week = quality.get("week")
    when = f"at week {week}" if week is not None else "over the term"
    said = [
        f"Measured on {who} as known {when}: {_whole(quality.get('students')):,} students, "
        f"{_whole(quality.get('failing')):,} of whom did not pass."
    ]
    precision, recall = quality.get("high_precision"), quality.get("high_recall")
    if isinstance(precision, float) and isinstance(recall, float):
        said.append(
            f"Of those it flagged high risk, {_in_ten(precision)} did not pass; "
            f"it found {_in_ten(recall)} of those who did not pass."
        )
    elif isinstance(recall, float):
        said.append("It flagged none of them high risk.")
    auc = quality.get("auc")
    if isinstance(auc, float):
        said.append(
            f"Given one student who did not pass and one who did, it gave the higher risk to the one who did not "
            f"pass {round(auc * 100)} times in 100 (a coin would: 50)."
        )
    return said


_STAGE_LABELS: Final = {
    "no_interim": "before any interim grade",
    "interim_1": "with the first interim grade",
    "interim_2": "with both interim grades",
}
_METRIC_LABELS: Final = {
    "roc_auc": "ROC AUC",
    "brier": "Brier score",
    "accuracy": "Accuracy",
    "grade_rmse": "Predicted grade error (RMSE, points)",
}


def _figure(value: object, interval: object = None, *, digits: int = 3) -> str:
    if not isinstance(value, int | float) or not math.isfinite(float(value)):
        return "not measured"
    text = f"{float(value):.{digits}f}"
    if isinstance(interval, list | tuple) and len(interval) == 2 and all(isinstance(v, int | float) for v in interval):
        text += f" (90 % interval {float(interval[0]):.{digits}f} to {float(interval[1]):.{digits}f})"
    return text


def quality_table(quality: dict[str, object] | None, metrics: dict[str, float] | None) -> list[tuple[str, str, str]]:
    """(figure, this model, the naive predictor) rows with human labels: the validation at this report's week,
    then the cross-validated figures of each stage of the model."""
    rows: list[tuple[str, str, str]] = []
    if quality and quality.get("students"):
        q = quality
        rows += [
            ("Students judged (of whom did not pass)", f"{q.get('students')} ({q.get('failing')})", ""),
            (
                "ROC AUC (ranking; 0.5 is chance)",
                _figure(q.get("auc"), q.get("auc_interval")),
                _figure(q.get("naive_auc")),
            ),
            (
                "Brier score (lower is better)",
                _figure(q.get("brier"), q.get("brier_interval")),
                _figure(q.get("naive_brier")),
            ),
            ("Average precision (PR-AUC)", _figure(q.get("pr_auc")), ""),
            ("Expected calibration error (0 is calibrated)", _figure(q.get("ece")), ""),
            ("Calibration slope (1 is calibrated)", _figure(q.get("calibration_slope"), digits=2), ""),
            ("High band: share who did not pass (precision)", _figure(q.get("high_precision"), digits=2), ""),
            ("High band: share of those who did not pass (recall)", _figure(q.get("high_recall"), digits=2), ""),
        ]
    for key, value in sorted((metrics or {}).items()):
        stage, _, metric = key.partition(" ")
        if stage in _STAGE_LABELS and metric in _METRIC_LABELS:
            label = f"{_METRIC_LABELS[metric]}, {_STAGE_LABELS[stage]} (cross-validated on the training data)"
            rows.append((label, _figure(value), ""))
    return rows


def gate_words(gate: str, promoted: bool, validated: bool = True) -> str:
    """The quality gate's state in a sentence; its technical reasoning stays in the appendix."""
    if promoted and validated:
        return "It passed the quality gate: on this institution's own students it did better than a simple rule."
    if promoted:
        return (
            "It passed the quality gate on the data it learnt from, none of it yet this institution's own students "
            "at this point of a term."
        )
    if gate.startswith("no model"):
        return "No model has been trained yet."
    return "It has not passed the quality gate, so its probabilities are not shown to beat a simple rule."


def drift_words(drift: dict[str, object] | None) -> str:
    """Drift in words, with the catalog's names of the inputs (never their column names)."""
    if not drift or not drift.get("columns"):
        return "There were no past students at this week to compare this term's students with."
    catalog = load_catalog().by_name
    listed = drift.get("drifted_columns")
    names = [str(n) for n in listed] if isinstance(listed, list) else []
    said = [_plain(catalog[n].description)[0] if n in catalog else n.replace("_", " ") for n in names]
    total = _whole(drift.get("columns"))
    if not said:
        return f"None of the {total} inputs compared differs from the students the model learnt from."
    return (
        f"{len(said)} of the {total} inputs compared differ from the students the model learnt from: {', '.join(said)}."
    )


def label(name: object) -> str:
    """A column's name as people read it: its catalog description, capitalised."""
    column = load_catalog().by_name.get(str(name))
    return _capitalised(column.description if column else str(name).replace("_", " "))
