"""OULAD (Open University Learning Analytics Dataset) turned into PassCompass-shaped weekly snapshots.

Pure pandas/numpy on purpose: the benchmark must measure the data, not the platform, so nothing here imports
PassCompass. The tables are read from a directory (``/work/shared/data/oulad`` by default) and never copied.

Mapping onto PassCompass:

- a *presentation* (``2013B``, ``2013J``, ...) is a period: ``period_id`` is the presentation code;
- a *module presentation* is a course: ``course_id`` is the module code (``AAA``, ...), unique within a period;
- ``user_id`` is ``id_student`` as a string (one student may take several modules in one presentation).

Dates: OULAD counts days from the module start (day 0) and publishes no calendar dates, so we choose them. A ``B``
presentation starts on the first Monday of February of its year and a ``J`` presentation on the first Monday of
October (the Open University's February and October starts). All modules of a presentation share that start. The
period ends ``start + max(module_presentation_length)`` days later, so every module fits inside its period.

Point-in-time rule: a snapshot at ``cutoff_day`` holds only what was known by the end of that day: submissions with
``date_submitted <= cutoff_day``, an unregistration only if ``date_unregistration <= cutoff_day``, and only students
who had registered by then (a missing registration day counts as registered from the start). Exam assessments are
left out of every feature: their scores arrive at the end and would leak the final result.

Quirks of the data, and what we do:

- banked submissions (``is_banked = 1``, a result carried over from an earlier presentation) all have
  ``date_submitted = -1``; they are treated like any other submission, so they already count at day 0, and a few
  ordinary submissions are dated before day 0 too (the earliest is day -11);
- some students register after the start (up to day 167) and a few submissions predate their registration: such
  a student, with those submissions, appears from the registration day on;
- missing scores (173, all TMA) are left out of every mean but the submission still counts;
- only Exam assessments lack a date, so ``assessments_due`` never misses a dated coursework item;
- status comes from ``date_unregistration`` alone: 93 students end "Withdrawn" without one (active in every
  snapshot, labelled not passing) and 9 with one end "Fail" (withdrawn in snapshots from that day);
- OULAD's ``gender`` is named ``student_gender`` here, because the built-in catalog's ``sex`` accepts the header
  "Gender".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FILES = {
    "courses": "courses.csv",
    "assessments": "assessments.csv",
    "student_info": "studentInfo.csv",
    "registration": "studentRegistration.csv",
    "student_assessment": "studentAssessment.csv",
    "vle": "vle.csv",
}
KEY = ["code_module", "code_presentation", "id_student"]
AUDIT_COLUMNS = ["student_gender", "age_band", "disability", "region", "highest_education", "imd_band"]
# What a snapshot knows of a student that can be a model input (the audit columns never are).
FEATURE_COLUMNS = (
    "registration_day",
    "prior_attempts",
    "studied_credits",
    "assessments_due",
    "assessments_submitted",
    "submitted_share",
    "weighted_mean_score",
    "last_score",
    "tma_mean",
    "cma_mean",
    "mean_days_late",
)
SNAPSHOT_COLUMNS = [
    "user_id",
    "course_id",
    "period_id",
    "as_of_date",
    "enrolment_status",
    "withdrawal_date",
    *FEATURE_COLUMNS,
    *AUDIT_COLUMNS,
]
# Ordinal final grade: the label side of PassCompass (higher is better, pass at PASS_MARK).
GRADES = {"Withdrawn": 0, "Fail": 1, "Pass": 2, "Distinction": 3}
GRADE_MAX = 3
PASS_MARK = 2


@dataclass(frozen=True)
class OuladTables:
    """The six OULAD tables as published (pandas defaults: empty fields are NaN)."""

    courses: pd.DataFrame
    assessments: pd.DataFrame
    student_info: pd.DataFrame
    registration: pd.DataFrame
    student_assessment: pd.DataFrame
    vle: pd.DataFrame


def load_oulad(data_dir: Path) -> OuladTables:
    """Read the six tables from ``data_dir``; fail early, naming every missing file, so a wrong path is obvious."""
    data_dir = Path(data_dir)
    missing = [name for name in FILES.values() if not (data_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"OULAD files missing in {data_dir}: {', '.join(missing)}")
    frames = {field: pd.read_csv(data_dir / name) for field, name in FILES.items()}
    return OuladTables(**frames)


def subset(
    tables: OuladTables, modules: Iterable[str] | None = None, students: int | None = None, seed: int = 0
) -> OuladTables:
    """Only ``modules`` (default: all) and, of each module presentation, at most ``students`` registrations drawn at
    random (seeded): the same shape at a fraction of the size, for a quick run. Every table keeps the rows of the
    students kept, so snapshots and final results stay consistent."""
    chosen = set(tables.courses["code_module"]) if modules is None else set(modules)
    unknown = chosen - set(tables.courses["code_module"])
    if unknown:
        raise ValueError(f"unknown OULAD modules: {', '.join(sorted(unknown))}")
    info = tables.student_info[tables.student_info["code_module"].isin(chosen)]
    if students is not None:
        shuffled = info.sample(frac=1.0, random_state=seed)
        info = shuffled.groupby(["code_module", "code_presentation"]).head(students).sort_index()
    assessments = tables.assessments[tables.assessments["code_module"].isin(chosen)]
    submissions = tables.student_assessment
    return OuladTables(
        courses=tables.courses[tables.courses["code_module"].isin(chosen)],
        assessments=assessments,
        student_info=info,
        registration=tables.registration.merge(info[KEY], on=KEY, how="inner"),
        student_assessment=submissions[
            submissions["id_assessment"].isin(assessments["id_assessment"])
            & submissions["id_student"].isin(info["id_student"])
        ],
        vle=tables.vle[tables.vle["code_module"].isin(chosen)],
    )


def first_monday(year: int, month: int) -> date:
    """The first Monday of ``month``: our chosen day 0 of a presentation."""
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def presentation_start(presentation: str) -> date:
    """Day 0 of a presentation code such as ``2014J``: first Monday of February (B) or October (J)."""
    year, kind = int(presentation[:4]), presentation[4:]
    months = {"B": 2, "J": 10}
    if kind not in months:
        raise ValueError(f"unknown presentation code {presentation!r} (expected YYYYB or YYYYJ)")
    return first_monday(year, months[kind])


def period_dates(tables: OuladTables) -> dict[str, tuple[date, date]]:
    """Start and end date of every presentation; the end leaves room for its longest module."""
    lengths = tables.courses.groupby("code_presentation")["module_presentation_length"].max()
    return {
        str(p): (presentation_start(str(p)), presentation_start(str(p)) + timedelta(days=int(n)))
        for p, n in lengths.sort_index().items()
    }


def period_length(tables: OuladTables, presentation: str) -> int:
    """Days from start to end of a presentation's period (its longest module)."""
    courses = tables.courses
    return int(courses.loc[courses["code_presentation"] == presentation, "module_presentation_length"].max())


@dataclass(frozen=True)
class _Prepared:
    """One presentation joined once, so each of the ~35 weekly snapshots is a few masked ``bincount`` calls."""

    presentation: str
    start: date
    students: pd.DataFrame  # one row per registration, static columns
    coursework: pd.DataFrame  # non-Exam assessments: code_module, id_assessment, assessment_type, date, weight
    submissions: pd.DataFrame  # non-Exam submissions with ``row`` (their student's row), sorted by date_submitted


def _prepare(tables: OuladTables, presentation: str) -> _Prepared:
    """Join registrations, student info and coursework submissions of one presentation."""
    if presentation not in set(tables.courses["code_presentation"]):
        raise ValueError(f"unknown presentation {presentation!r}")
    info = tables.student_info[tables.student_info["code_presentation"] == presentation]
    registration = tables.registration[tables.registration["code_presentation"] == presentation]
    students = info.merge(registration, on=KEY, how="left", validate="one_to_one")
    students["user_id"] = students["id_student"].astype(str)
    # Sorted once, in output order, so no snapshot has to sort.
    students = students.sort_values(["code_module", "user_id"], ignore_index=True)
    students["row"] = np.arange(len(students))

    assessments = tables.assessments[tables.assessments["code_presentation"] == presentation]
    coursework = assessments.loc[
        assessments["assessment_type"] != "Exam", ["code_module", "id_assessment", "assessment_type", "date", "weight"]
    ]
    submissions = tables.student_assessment.merge(coursework, on="id_assessment", how="inner").merge(
        students[["code_module", "id_student", "row"]], on=["code_module", "id_student"], how="inner"
    )
    # Days late counts only lateness; an early submission is not "negatively late".
    submissions["days_late"] = (submissions["date_submitted"] - submissions["date"]).clip(lower=0)
    # Sorted once so "the most recent submission" is the last one per student; same-day ties go to the later
    # assessment.
    submissions = submissions.sort_values(["date_submitted", "date", "id_assessment"], ignore_index=True)
    return _Prepared(presentation, presentation_start(presentation), students, coursework, submissions)


def _iso(start: date, days: pd.Series) -> pd.Series:
    """ISO dates ``start + days`` for a series of day offsets; NaN offsets become empty strings."""
    stamps = pd.Timestamp(start) + pd.to_timedelta(days, unit="D")
    return stamps.dt.strftime("%Y-%m-%d").fillna("")


def _per_row(rows: np.ndarray, values: np.ndarray | None, n: int) -> np.ndarray:
    """Sum of ``values`` (or a count) per student row; ``bincount`` is the vectorised groupby here."""
    return np.bincount(rows, weights=values, minlength=n).astype(float)


def _mean_per_row(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of the non-missing ``values`` per student row, NaN where a row has none."""
    present = ~np.isnan(values)
    count = _per_row(rows[present], None, n)
    total = _per_row(rows[present], values[present], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _snapshot(prep: _Prepared, cutoff_day: int) -> pd.DataFrame:
    """The snapshot of a prepared presentation at ``cutoff_day`` (see :func:`snapshot`)."""
    frame = prep.students.copy()
    n = len(frame)
    subs = prep.submissions[prep.submissions["date_submitted"].to_numpy() <= cutoff_day]
    rows = subs["row"].to_numpy()
    score = subs["score"].to_numpy(dtype=float)
    weight = subs["weight"].to_numpy(dtype=float)
    kind = subs["assessment_type"].to_numpy()

    due = prep.coursework[prep.coursework["date"] <= cutoff_day]
    frame["assessments_due"] = frame["code_module"].map(due.groupby("code_module").size()).fillna(0).astype(int)
    frame["assessments_submitted"] = _per_row(rows, None, n).astype(int)
    submitted_due = _per_row(rows[subs["id_assessment"].isin(due["id_assessment"]).to_numpy()], None, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["submitted_share"] = np.where(
            frame["assessments_due"] > 0, 100 * submitted_due / frame["assessments_due"], np.nan
        )

    # Weighted by assessment weight; CMAs often weigh 0, so an all-zero-weight record falls back to the plain mean.
    scored = ~np.isnan(score)
    weight_sum = _per_row(rows[scored], weight[scored], n)
    weighted_sum = _per_row(rows[scored], (score * weight)[scored], n)
    plain_mean = _mean_per_row(rows, score, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["weighted_mean_score"] = np.where(weight_sum > 0, weighted_sum / weight_sum, plain_mean)
    frame["tma_mean"] = _mean_per_row(rows, np.where(kind == "TMA", score, np.nan), n)
    frame["cma_mean"] = _mean_per_row(rows, np.where(kind == "CMA", score, np.nan), n)
    frame["mean_days_late"] = _mean_per_row(rows, subs["days_late"].to_numpy(dtype=float), n)
    # Submissions are sorted by date, so the first hit of each row in the reversed order is its latest score.
    last_rows, last_pos = np.unique(rows[scored][::-1], return_index=True)
    last_score = np.full(n, np.nan)
    last_score[last_rows] = score[scored][::-1][last_pos]
    frame["last_score"] = last_score

    withdrawn = frame["date_unregistration"] <= cutoff_day
    frame["enrolment_status"] = np.where(withdrawn, "withdrawn", "active")
    frame["withdrawal_date"] = _iso(prep.start, frame["date_unregistration"].where(withdrawn))
    frame["course_id"] = frame["code_module"]
    # The built-in catalog's `sex` accepts the header "Gender", so OULAD's gender gets a name of its own.
    frame["student_gender"] = frame["gender"]
    frame["period_id"] = prep.presentation
    frame["as_of_date"] = (prep.start + timedelta(days=cutoff_day)).isoformat()
    frame["registration_day"] = frame["date_registration"].astype("Int64")
    frame["prior_attempts"] = frame["num_of_prev_attempts"].astype(int)
    frame["studied_credits"] = frame["studied_credits"].astype(int)
    # Not yet registered by the cutoff: the institution could not have listed them. A missing registration day
    # counts as registered from the start.
    frame = frame[~(frame["date_registration"] > cutoff_day)]
    return frame[SNAPSHOT_COLUMNS].reset_index(drop=True)


def snapshot(tables: OuladTables, presentation: str, cutoff_day: int) -> pd.DataFrame:
    """What an institution could have uploaded about ``presentation`` at the end of day ``cutoff_day``.

    One row per registration known by then (every module of the presentation), with point-in-time features
    only; see the module docstring for the rules. Missing values are NaN (``registration_day``: ``<NA>``).
    OULAD's ``gender`` is named ``student_gender`` (the built-in catalog's ``sex`` accepts the header "Gender").
    """
    return _snapshot(_prepare(tables, presentation), cutoff_day)


def snapshots_at(tables: OuladTables, presentation: str, cutoff_days: Iterable[int]) -> pd.DataFrame:
    """Snapshots of one presentation at several cutoff days, concatenated; the join is done once."""
    prep = _prepare(tables, presentation)
    frames = [_snapshot(prep, int(day)) for day in cutoff_days]
    if not frames:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def weekly_snapshots(tables: OuladTables, presentation: str, weeks: Iterable[int]) -> pd.DataFrame:
    """Snapshots at ``cutoff_day = 7 * week`` (week 1 = day 7), concatenated."""
    return snapshots_at(tables, presentation, (7 * int(week) for week in weeks))


def final_results(tables: OuladTables, presentation: str) -> pd.DataFrame:
    """Final grade per registration on the 0-3 scale (Withdrawn 0, Fail 1, Pass 2, Distinction 3)."""
    info = tables.student_info[tables.student_info["code_presentation"] == presentation]
    grades = info["final_result"].map(GRADES)
    if grades.isna().any():
        unknown = sorted(set(info.loc[grades.isna(), "final_result"].astype(str)))
        raise ValueError(f"unknown final_result values: {unknown}")
    return pd.DataFrame(
        {
            "user_id": info["id_student"].astype(str).to_numpy(),
            "course_id": info["code_module"].to_numpy(),
            "period_id": presentation,
            "final_grade": grades.astype(int).to_numpy(),
        }
    )


def enrolled_at(snapshot_frame: pd.DataFrame) -> pd.Series:
    """Rows still active at the cutoff: the students a report on that day would list.

    A student who withdraws later is reported until then; one who withdrew before the start is never reported.
    """
    return snapshot_frame["enrolment_status"] == "active"


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV without index, missing values as empty fields, floats rounded to 4 decimals (upload-sized)."""
    return frame.round(4).to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")
