"""A synthetic demo university: two terms of weekly student snapshots and final grades, for a platform with no data.

The past term is complete (every weekly snapshot and the final grades), so there is labelled history to train on;
the current term contains ``today`` and has snapshots only up to it, so there is a live term to report on. Every
signal is driven by latent per-student and per-enrolment variables plus noise, so the data carry real, growing
predictive signal. The generating process is described in ``docs/demo_data.md``: keep the two in step.

Deterministic for a given ``seed``, ``today`` and ``students``: the whole of both terms is simulated up front from one
random generator, and files are cut from that simulation, so a snapshot for any date of a term (``make_snapshot_csv``)
agrees with the weekly files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from passcompass_assets.core.periods import Cadence

WEEKS = 13
CADENCE_WEEKS: Cadence = 3
GRADE_MAX = 20.0
PASS_MARK = 10.0
SESSIONS_PER_WEEK = 3  # timetabled sessions a week: attendance and absences count these
# Interim grades are entered at the end of these weeks (a few late, one week after).
INTERIM_WEEKS = {"interim_grade_1": 5, "interim_grade_2": 10}
LATE_ENTRY_SHARE = 0.06
COURSES_TAKEN_P = (0.3, 0.45, 0.25)  # P(1, 2, 3 courses in a term)
DRIFT_SHARE = 0.07  # enrolments whose engagement collapses part-way through the term
SURVEY_SKIPPED_SHARE = 0.04  # students who left the whole start-of-term survey blank
CELL_MISSING_SHARE = 0.01  # single blank answers, and single blank engagement values per snapshot
# Centres of the grade equations, calibrated so that about a quarter of enrolments fail.
GRADE_CENTRE = {"interim_grade_1": 12.6, "interim_grade_2": 12.3, "final_grade": 13.0}
GRADE_SLOPE = 3.0

SURVEY_COLUMNS = (
    "study_time",
    "travel_time",
    "family_support",
    "extra_activities",
    "in_relationship",
    "free_time",
    "going_out",
    "workday_alcohol",
    "weekend_alcohol",
    "health",
)
START_COLUMNS = (
    "sex",
    "age",
    "address_type",
    "mother_education",
    "father_education",
    "past_failures",
    "previous_grade",
    "wants_higher_education",
    "internet_access",
    *SURVEY_COLUMNS,
)
ENGAGEMENT_COLUMNS = (
    "absences",
    "attendance_rate",
    "assignment_completion",
    "quiz_average",
    "lms_logins",
    "lms_active_minutes",
)
# Engagement values an LMS export occasionally leaves blank; the counters are never blank.
GLITCHY_COLUMNS = ("attendance_rate", "assignment_completion", "quiz_average", "lms_active_minutes")
SNAPSHOT_COLUMNS = (
    "user_id",
    "course_id",
    "period_id",
    "as_of_date",
    *START_COLUMNS,
    *ENGAGEMENT_COLUMNS,
    *INTERIM_WEEKS,
)
BOOLEAN_COLUMNS = ("wants_higher_education", "internet_access", "family_support", "extra_activities", "in_relationship")


@dataclass(frozen=True)
class DemoCourse:
    course_id: str
    title: str
    difficulty: float  # subtracted from a student's skill: harder courses fail more students
    popularity: float  # relative chance of being chosen


COURSES = (
    DemoCourse("demo-algebra", "Linear algebra", 0.35, 1.2),
    DemoCourse("demo-biology", "Cell biology", 0.0, 1.0),
    DemoCourse("demo-chemistry", "General chemistry", 0.2, 0.9),
    DemoCourse("demo-history", "Modern history", -0.3, 0.8),
)


@dataclass(frozen=True)
class DemoPeriod:
    period_id: str
    start_date: date  # a Monday
    end_date: date  # the Sunday of week 13
    cadence_weeks: Cadence = CADENCE_WEEKS

    def week_end(self, week: int) -> date:
        """The as-of date of the weekly snapshot ``week`` (1..13): the last day of that week."""
        return self.start_date + timedelta(days=7 * week - 1)

    def progress(self, as_of: date) -> float:
        """Weeks of term elapsed at the end of ``as_of`` (week_end(k) gives exactly k)."""
        return ((as_of - self.start_date).days + 1) / 7

    def as_dict(self) -> dict[str, object]:
        return {
            "period_id": self.period_id,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "cadence_weeks": self.cadence_weeks,
        }


def _season(day: date) -> str:
    return "spring" if day.month <= 6 else "autumn"


def _period(start: date) -> DemoPeriod:
    return DemoPeriod(f"demo-{start.year}-{_season(start)}", start, start + timedelta(weeks=WEEKS, days=-1))


def demo_periods(today: date) -> tuple[DemoPeriod, DemoPeriod]:
    """(past, current): the current term starts on the Monday 7–8 weeks before ``today``; the past one 26 weeks
    earlier, so it ended 13 weeks before the current one began."""
    start = today - timedelta(weeks=7)
    current = _period(start - timedelta(days=start.weekday()))
    past = _period(current.start_date - timedelta(weeks=26))
    if past.period_id == current.period_id:  # both starts in one half-year (only at the turn of the year)
        past = _period(past.start_date - timedelta(weeks=1))
    return past, current


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _band(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """Round a continuous score onto an integer Likert-style band."""
    return np.clip(np.rint(values), low, high).astype(int)


def _cumulative(weekly: np.ndarray) -> np.ndarray:
    """(rows, weeks) per-week counts -> (rows, weeks + 1) running totals starting at 0, for interpolation."""
    return np.concatenate([np.zeros((len(weekly), 1)), np.cumsum(weekly, axis=1)], axis=1)


def _at(cumulative: np.ndarray, t: float) -> np.ndarray:
    """Running total after ``t`` weeks (fractional: linear within a week, so still non-decreasing)."""
    k = min(int(t), WEEKS - 1)
    return cumulative[:, k] + (t - k) * (cumulative[:, k + 1] - cumulative[:, k])


@dataclass(eq=False)
class DemoTerm:
    """One simulated term: one row per enrolment (student x course), the whole term's signals held up front."""

    period: DemoPeriod
    student: np.ndarray  # index of the student of each row, into the cohort
    attributes: pd.DataFrame  # user_id, course_id, period_id and the start-of-term columns, missing values in
    totals: dict[str, np.ndarray]  # running totals per week, shape (rows, WEEKS + 1)
    interim: dict[str, tuple[np.ndarray, np.ndarray]]  # column -> (grade, week it is entered)
    final_grade: np.ndarray
    seed: int
    index: int  # position of the term, to derive per-snapshot noise
    early: np.ndarray  # logins in the week before the term, per row (the keen look around first)

    @property
    def rows(self) -> int:
        return len(self.attributes)

    def snapshot(self, as_of: date) -> pd.DataFrame:
        """The student file a university would export on ``as_of``: attributes, engagement so far, interim grades
        entered by then."""
        if not self.period.start_date <= as_of <= self.period.end_date:
            raise ValueError(
                f"{as_of} is outside {self.period.period_id} ({self.period.start_date}..{self.period.end_date})"
            )
        t = self.period.progress(as_of)
        attended, sessions = _at(self.totals["attended"], t), SESSIONS_PER_WEEK * t
        frame = self.attributes.copy()
        frame.insert(3, "as_of_date", as_of.isoformat())
        frame["absences"] = np.rint(sessions - attended).astype(int)
        frame["attendance_rate"] = np.round(100 * attended / sessions, 1)
        frame["assignment_completion"] = np.round(100 * _at(self.totals["submitted"], t) / t, 1)
        frame["quiz_average"] = np.round(_at(self.totals["quiz_points"], t) / t, 1)
        frame["lms_logins"] = np.rint(_at(self.totals["logins"], t)).astype(int)
        frame["lms_active_minutes"] = np.round(_at(self.totals["minutes"], t), 1)
        for column, (grade, entered) in self.interim.items():
            frame[column] = pd.array(np.where(entered <= t + 1e-9, grade, np.nan)).astype("Int64")
        # Export glitches differ from one snapshot to the next; seeded by the date so any snapshot is reproducible.
        rng = np.random.default_rng([self.seed, self.index, as_of.toordinal()])
        for column in GLITCHY_COLUMNS:
            frame.loc[rng.random(self.rows) < CELL_MISSING_SHARE, column] = np.nan
        return frame[list(SNAPSHOT_COLUMNS)]

    def activity_log(self, until: date) -> pd.DataFrame:
        """The learning platform's log of the term (the generic activity format: one row per student, course, day
        and kind, with a count), from the week before it began to the day before ``until``: each login a visit
        on a day of its week, a few events each, mostly reading. Drifters fall silent as their engagement goes."""
        rng = np.random.default_rng([self.seed, self.index, 99])
        weekly = np.diff(self.totals["logins"], axis=1).round().astype(int)  # (rows, WEEKS)
        counts = np.concatenate([self.early[:, None], weekly], axis=1)  # week -1 first
        row = np.repeat(np.arange(self.rows), counts.sum(axis=1))
        week = np.concatenate([np.repeat(np.arange(-1, WEEKS), c) for c in counts])
        offset = 7 * week + rng.integers(0, 7, len(row))
        kind = rng.choice(np.array(["content", "quiz", "assignment", "forum"]), len(row), p=[0.55, 0.2, 0.15, 0.1])
        visits = pd.DataFrame({"row": row, "offset": offset, "kind": kind, "count": 1 + rng.poisson(3, len(row))})
        days = pd.Timestamp(self.period.start_date) + pd.to_timedelta(visits["offset"], unit="D")
        visits = visits[days < pd.Timestamp(until)].assign(day=days.dt.strftime("%Y-%m-%d"))
        log = visits.groupby(["row", "day", "kind"], as_index=False)["count"].sum()
        keys = self.attributes.iloc[log["row"].to_numpy()]
        return pd.DataFrame(
            {
                "user_id": keys["user_id"].to_numpy(),
                "course_id": keys["course_id"].to_numpy(),
                "timestamp": log["day"].to_numpy(),
                "event_type": log["kind"].to_numpy(),
                "count": log["count"].to_numpy(),
            }
        )

    def final_grades(self) -> pd.DataFrame:
        frame = self.attributes[["user_id", "course_id", "period_id"]].copy()
        frame["final_grade"] = self.final_grade.astype(int)
        return frame


@dataclass(eq=False)
class DemoWorld:
    seed: int
    students: int
    past: DemoTerm
    current: DemoTerm

    @property
    def terms(self) -> dict[str, DemoTerm]:
        return {t.period.period_id: t for t in (self.past, self.current)}

    def term(self, period_id: str) -> DemoTerm:
        try:
            return self.terms[period_id]
        except KeyError:
            raise ValueError(f"no demo period {period_id!r}; there are {sorted(self.terms)}") from None


@dataclass(frozen=True)
class _People:
    """Per-student latent variables and attributes that do not change between terms."""

    user_id: np.ndarray
    ability: np.ndarray  # general academic ability, N(0, 1)
    motivation: np.ndarray  # drive to engage, N(0, 1), correlated 0.35 with ability
    attributes: pd.DataFrame  # start-of-term columns, before any term's missing values


def _people(rng: np.random.Generator, n: int) -> _People:
    ability = rng.standard_normal(n)
    motivation = 0.35 * ability + np.sqrt(1 - 0.35**2) * rng.standard_normal(n)
    past_failures = np.minimum(rng.poisson(np.exp(-1.8 - 0.9 * ability)), 4)
    rural = rng.random(n) < 0.25
    workday_alcohol = np.minimum(1 + rng.poisson(np.exp(-1.0 - 0.3 * motivation)), 5)
    attributes = pd.DataFrame(
        {
            # Sex has no effect on any outcome, by design.
            "sex": np.where(rng.random(n) < 0.55, "F", "M"),
            "age": np.minimum(18 + rng.poisson(1.3, n) + past_failures, 35),
            "address_type": np.where(rural, "R", "U"),
            "mother_education": _band(2.4 + 0.4 * ability + rng.normal(0, 1.1, n), 0, 4),
            "father_education": _band(2.2 + 0.4 * ability + rng.normal(0, 1.1, n), 0, 4),
            "past_failures": past_failures,
            # Percent grade in the previous course; first-year students have none.
            "previous_grade": np.where(
                rng.random(n) < 0.12, np.nan, np.round(5 * np.clip(11.5 + 2 * ability + rng.normal(0, 2.5, n), 0, 20))
            ),
            "wants_higher_education": rng.random(n) >= _sigmoid(-3.2 - motivation),
            "internet_access": rng.random(n) < 0.92,
            "study_time": _band(2.0 + 0.6 * motivation + rng.normal(0, 0.7, n), 1, 4),
            "travel_time": _band(1.3 + 1.0 * rural + np.abs(rng.normal(0, 0.7, n)), 1, 4),
            "family_support": rng.random(n) < _sigmoid(0.4 + 0.3 * ability),
            "extra_activities": rng.random(n) < 0.5,
            "in_relationship": rng.random(n) < 0.33,
            "free_time": _band(3.2 + rng.normal(0, 1.0, n), 1, 5),
            "going_out": _band(3.0 - 0.3 * motivation + rng.normal(0, 1.0, n), 1, 5),
            "workday_alcohol": workday_alcohol,
            "weekend_alcohol": np.minimum(workday_alcohol + rng.poisson(1.0, n), 5),
            "health": _band(3.6 + rng.normal(0, 1.2, n), 1, 5),
        }
    )
    width = max(5, len(str(n)))
    user_id = np.array([f"S{i:0{width}d}" for i in range(1, n + 1)])
    return _People(user_id, ability, motivation, attributes)


def _enrol(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(student, course) index pairs: 1-3 distinct courses per student, chosen by popularity."""
    popularity = np.log([c.popularity for c in COURSES])
    ranked = np.argsort(-(popularity + rng.gumbel(size=(n, len(COURSES)))), axis=1)  # weighted, no replacement
    taken = rng.choice([1, 2, 3], size=n, p=COURSES_TAKEN_P)
    chosen = np.arange(len(COURSES))[None, :] < taken[:, None]
    student, course = np.nonzero(chosen)[0], ranked[chosen]
    order = np.lexsort((course, student))
    return student[order], course[order]


def _simulate_term(
    rng: np.random.Generator, people: _People, attributes: pd.DataFrame, period: DemoPeriod, seed: int, index: int
) -> DemoTerm:
    student, course = _enrol(rng, len(people.user_id))
    rows = len(student)
    attrs = attributes.iloc[student].reset_index(drop=True)
    difficulty = np.array([c.difficulty for c in COURSES])[course]

    # Latent per enrolment: skill in this course, baseline engagement, and a week-to-week wobble.
    skill = 0.65 * people.ability[student] + 0.76 * rng.standard_normal(rows) - difficulty
    engagement = (
        0.7 * people.motivation[student]
        + 0.5 * rng.standard_normal(rows)
        + 0.2 * (attrs["study_time"].to_numpy() - 2)
        - 0.1 * (attrs["going_out"].to_numpy() - 3)
        - 0.5 * ~attrs["wants_higher_education"].to_numpy(dtype=bool)
    )
    wobble = np.empty((rows, WEEKS))
    wobble[:, 0] = rng.normal(0, 0.3, rows)
    for week in range(1, WEEKS):
        wobble[:, week] = 0.6 * wobble[:, week - 1] + rng.normal(0, 0.3, rows)
    # Drifters: engagement falls by 1.5-2.5 SD over two weeks from a week between 4 and 9.
    drifts = rng.random(rows) < DRIFT_SHARE
    drift_from = rng.integers(4, 10, rows)
    drop = rng.uniform(1.5, 2.5, rows) * drifts
    weeks = np.arange(1, WEEKS + 1)
    ramp = np.clip((weeks[None, :] - drift_from[:, None] + 1) / 2, 0, 1)
    weekly = engagement[:, None] + wobble - drop[:, None] * ramp  # (rows, WEEKS)

    attended = rng.binomial(SESSIONS_PER_WEEK, _sigmoid(2.0 + 1.1 * weekly))
    submitted = rng.random((rows, WEEKS)) < _sigmoid(1.6 + 1.2 * weekly + 0.3 * skill[:, None])
    quiz = 100 * _sigmoid(0.7 + 0.6 * skill[:, None] + 0.3 * weekly + rng.normal(0, 1.0, (rows, WEEKS)))
    no_internet = ~attrs["internet_access"].to_numpy(dtype=bool)
    logins = rng.poisson(np.exp(np.log(4.5) + 0.45 * weekly) * np.where(no_internet, 0.45, 1.0)[:, None])
    minutes = logins * rng.gamma(4.0, np.exp(np.log(22) + 0.15 * weekly) / 4)
    totals = {
        "attended": _cumulative(attended),
        "submitted": _cumulative(submitted),
        "quiz_points": _cumulative(quiz),
        "logins": _cumulative(logins),
        "minutes": _cumulative(minutes),
    }

    # Grades measure mastery so far: course skill plus the engagement shown up to the grading week.
    def grade(column: str, week: int, noise: float) -> np.ndarray:
        mastery = skill + 0.45 * weekly[:, :week].mean(axis=1)
        return np.clip(np.rint(GRADE_CENTRE[column] + GRADE_SLOPE * mastery + rng.normal(0, noise, rows)), 0, 20)

    interim = {
        column: (grade(column, week, 1.8), week + (rng.random(rows) < LATE_ENTRY_SHARE))
        for column, week in INTERIM_WEEKS.items()
    }
    final_grade = grade("final_grade", WEEKS, 2.2)
    # Students who checked out by the end often skip the exam: a zero, as in the UCI data.
    final_grade[rng.random(rows) < _sigmoid(-6.0 - 1.8 * weekly[:, -1])] = 0

    # Missing answers: a few students skip the whole survey, and single answers are left blank.
    skipped = rng.random(len(people.user_id))[student] < SURVEY_SKIPPED_SHARE
    attrs = attrs.astype(object)
    for column in SURVEY_COLUMNS:
        attrs.loc[skipped | (rng.random(rows) < CELL_MISSING_SHARE), column] = None
    for column in BOOLEAN_COLUMNS:
        attrs[column] = attrs[column].map({True: "yes", False: "no"})
    keys = pd.DataFrame(
        {
            "user_id": people.user_id[student],
            "course_id": np.array([c.course_id for c in COURSES])[course],
            "period_id": period.period_id,
        }
    )
    early = rng.poisson(np.exp(np.log(1.5) + 0.6 * weekly[:, 0]) * np.where(no_internet, 0.45, 1.0))
    return DemoTerm(
        period=period,
        student=student,
        attributes=pd.concat([keys, attrs], axis=1),
        totals=totals,
        interim=interim,
        final_grade=final_grade,
        seed=seed,
        index=index,
        early=early,
    )


@lru_cache(maxsize=4)
def simulate_demo(*, today: date, seed: int = 7, students: int = 1000) -> DemoWorld:
    """Simulate both demo terms in full (the current one to its end, whatever ``today``). Cached: treat as read-only."""
    if students < 10:
        raise ValueError("students must be at least 10")
    past_period, current_period = demo_periods(today)
    rng = np.random.default_rng(seed)
    people = _people(rng, students)
    past = _simulate_term(rng, people, people.attributes, past_period, seed, 0)
    # The past term's results become the current term's history: failures add up, the mean grade carries over
    # (every student took at least one course, so the mean is defined).
    taken = np.bincount(past.student, minlength=students)
    failed = np.bincount(past.student, weights=past.final_grade < PASS_MARK, minlength=students).astype(int)
    mean_grade = np.bincount(past.student, weights=past.final_grade, minlength=students) / taken
    current_attributes = people.attributes.assign(
        past_failures=np.minimum(people.attributes["past_failures"] + failed, 4),
        age=people.attributes["age"] + (rng.random(students) < 0.5),
        previous_grade=np.round(5 * mean_grade, 1),
    )
    current = _simulate_term(rng, people, current_attributes, current_period, seed, 1)
    return DemoWorld(seed=seed, students=students, past=past, current=current)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")


def make_snapshot_csv(period_id: str, as_of: date, *, today: date, seed: int = 7, students: int = 1000) -> bytes:
    """The student CSV of the demo term ``period_id`` as of any date in it (agrees with the weekly files)."""
    return to_csv_bytes(simulate_demo(today=today, seed=seed, students=students).term(period_id).snapshot(as_of))


def final_grades_for(period_id: str, *, today: date, seed: int = 7, students: int = 1000) -> bytes:
    """The final-grades CSV of the demo term ``period_id`` (for the current term: as it will end)."""
    return to_csv_bytes(simulate_demo(today=today, seed=seed, students=students).term(period_id).final_grades())


@dataclass(frozen=True)
class DemoFile:
    path: Path
    kind: Literal["students", "final_grades", "activity"]
    period_id: str
    as_of_date: date


@dataclass
class DemoManifest:
    out_dir: Path
    today: date
    seed: int
    students: int
    periods: list[DemoPeriod]  # past, current
    courses: list[DemoCourse]
    files: list[DemoFile]  # in upload order: chronological
    activity: list[DemoFile]  # each term's learning-platform log (generic format), for POST /api/v1/activity
    enrolments: dict[str, int]  # period_id -> student x course rows
    grade_max: float = GRADE_MAX
    pass_mark: float = PASS_MARK

    @property
    def past(self) -> DemoPeriod:
        return self.periods[0]

    @property
    def current(self) -> DemoPeriod:
        return self.periods[1]

    @property
    def final_grade_files(self) -> list[Path]:
        return [f.path for f in self.files if f.kind == "final_grades"]

    def as_dict(self) -> dict[str, object]:
        return {
            "today": self.today.isoformat(),
            "seed": self.seed,
            "students": self.students,
            "grade_max": self.grade_max,
            "pass_mark": self.pass_mark,
            "periods": [p.as_dict() for p in self.periods],
            "courses": [c.course_id for c in self.courses],
            "enrolments": self.enrolments,
            "files": [
                {
                    "path": f.path.relative_to(self.out_dir).as_posix(),
                    "kind": f.kind,
                    "period_id": f.period_id,
                    "as_of_date": f.as_of_date.isoformat(),
                }
                for f in self.files
            ],
            "activity": [f.path.relative_to(self.out_dir).as_posix() for f in self.activity],
        }


def generate_demo(
    out_dir: Path, *, today: date, seed: int = 7, students: int = 1000, complete_current: bool = False
) -> DemoManifest:
    """Write the demo terms under ``out_dir``: ``periods.json``, ``manifest.json`` (files in upload order) and, per
    term, ``<period_id>/week_NN.csv``, ``<period_id>/activity.csv`` (the learning platform's log up to yesterday)
    and, once the term is over, ``<period_id>/final_grades.csv``.

    The current term gets the weekly snapshots dated up to ``today``, or all of them and its final grades with
    ``complete_current``. Existing files of the same names are overwritten; nothing else is removed.
    """
    world = simulate_demo(today=today, seed=seed, students=students)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[DemoFile] = []
    activity: list[DemoFile] = []
    for term in (world.past, world.current):
        period = term.period
        complete = term is world.past or complete_current
        (out_dir / period.period_id).mkdir(exist_ok=True)
        until = period.end_date + timedelta(days=1) if complete else today
        path = out_dir / period.period_id / "activity.csv"
        path.write_bytes(to_csv_bytes(term.activity_log(until)))
        activity.append(DemoFile(path, "activity", period.period_id, until - timedelta(days=1)))
        for week in range(1, WEEKS + 1):
            as_of = period.week_end(week)
            if not complete and as_of > today:
                break
            path = out_dir / period.period_id / f"week_{week:02d}.csv"
            path.write_bytes(to_csv_bytes(term.snapshot(as_of)))
            files.append(DemoFile(path, "students", period.period_id, as_of))
        if complete:
            path = out_dir / period.period_id / "final_grades.csv"
            path.write_bytes(to_csv_bytes(term.final_grades()))
            files.append(DemoFile(path, "final_grades", period.period_id, period.end_date))
    manifest = DemoManifest(
        out_dir=out_dir,
        today=today,
        seed=seed,
        students=students,
        periods=[world.past.period, world.current.period],
        courses=list(COURSES),
        files=files,
        activity=activity,
        enrolments={t.period.period_id: t.rows for t in (world.past, world.current)},
    )
    (out_dir / "periods.json").write_text(json.dumps([p.as_dict() for p in manifest.periods], indent=2) + "\n")
    (out_dir / "manifest.json").write_text(json.dumps(manifest.as_dict(), indent=2) + "\n")
    return manifest


# --- recorded actions, so the instructor's workspace shows a loop in progress ------------------------------------

DEMO_ACTOR = "demo"  # who recorded the demo's actions (a principal id of its own, never a person)


@dataclass(frozen=True)
class DemoAction:
    user_id: str
    kind: str
    note: str | None
    days_ago: float  # before the moment the demo is loaded


# What staff did about the highest-risk students of a course, in order of their risk: the first was contacted,
# offered tutoring and met; the second contacted and referred; the third's flag acknowledged; the fourth's judged
# not useful. Notes are synthetic staff text.
_DEMO_STEPS: tuple[tuple[int, str, str | None, float], ...] = (
    (0, "contacted", "Demo note: e-mailed to offer office hours.", 9),
    (0, "tutoring_offered", "Demo note: peer tutoring on Tuesdays.", 6),
    (0, "meeting_held", "Demo note: met after class and agreed a study plan.", 2),
    (1, "contacted", None, 8),
    (1, "referred", "Demo note: referred to student support.", 5),
    (2, "acknowledged", None, 4),
    (3, "not_useful", "Demo note: already known to the tutor.", 3),
)


def demo_actions(highest_risk: list[str]) -> list[DemoAction]:
    """The demo's actions for one course, given its students from the highest risk down (of its latest report)."""
    return [
        DemoAction(highest_risk[rank], kind, note, days)
        for rank, kind, note, days in _DEMO_STEPS
        if rank < len(highest_risk)
    ]
