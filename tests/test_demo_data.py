"""The synthetic demo term: layout, determinism, validity, realism of the signals, and loading into the database."""

from __future__ import annotations

import io
import json
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from passcompass_assets.core.datasets.demo import (
    COURSES,
    PASS_MARK,
    WEEKS,
    DemoTerm,
    demo_periods,
    final_grades_for,
    generate_demo,
    make_snapshot_csv,
    simulate_demo,
)
from passcompass_assets.core.db.tables import final_grades, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ingest.validation import validate_csv
from passcompass_assets.core.periods import Period, upsert_period

TODAY = date(2025, 3, 12)  # a Wednesday in week 8 of the current term
SMALL = 200  # students, where the size of the cohort does not matter


def _snapshots(term: DemoTerm) -> pd.DataFrame:
    return pd.concat([term.snapshot(term.period.week_end(w)).assign(week=w) for w in range(1, WEEKS + 1)])


def test_periods_frame_today_for_any_date():
    day = date(2023, 1, 1)
    while day < date(2025, 1, 1):
        past, current = demo_periods(day)
        assert current.start_date.weekday() == 0 and 49 <= (day - current.start_date).days <= 55
        assert (current.end_date - current.start_date).days == 7 * WEEKS - 1
        assert (past.end_date - past.start_date).days == 7 * WEEKS - 1 and past.end_date < current.start_date
        assert past.period_id != current.period_id
        for period in (past, current):
            season = "spring" if period.start_date.month <= 6 else "autumn"
            assert period.period_id == f"demo-{period.start_date.year}-{season}"
        day += timedelta(days=1)


def test_layout_and_every_file_validates(tmp_path: Path):
    manifest = generate_demo(tmp_path, today=TODAY, students=SMALL)
    past, current = manifest.periods
    assert (past.period_id, current.period_id) == ("demo-2024-autumn", "demo-2025-spring")
    assert json.loads((tmp_path / "periods.json").read_text()) == [p.as_dict() for p in manifest.periods]
    assert [p["cadence_weeks"] for p in json.loads((tmp_path / "periods.json").read_text())] == [3, 3]
    assert {c.course_id for c in manifest.courses} == {c.course_id for c in COURSES}

    # Past term complete; current term up to today (week 7 ends before Wednesday of week 8); grades for the past only.
    by_period = {p.period_id: [f for f in manifest.files if f.period_id == p.period_id] for p in manifest.periods}
    assert [f.path.name for f in by_period[past.period_id]] == [
        *(f"week_{w:02d}.csv" for w in range(1, WEEKS + 1)),
        "final_grades.csv",
    ]
    assert [f.path.name for f in by_period[current.period_id]] == [f"week_{w:02d}.csv" for w in range(1, 8)]
    assert manifest.final_grade_files == [tmp_path / past.period_id / "final_grades.csv"]
    assert all(f.as_of_date <= TODAY for f in manifest.files)
    assert [f.as_of_date for f in manifest.files] == sorted(f.as_of_date for f in manifest.files)  # upload order

    for demo_file in manifest.files:
        validated = validate_csv(demo_file.path.read_bytes(), kind=demo_file.kind, period_id=demo_file.period_id)
        assert validated.dropped_columns == [] and validated.warnings == []
        assert validated.period_ids == [demo_file.period_id]
        assert validated.rows == manifest.enrolments[demo_file.period_id]
        if demo_file.kind == "students":
            assert set(validated.frame["as_of_date"]) == {demo_file.as_of_date}
    assert SMALL * 1.6 < manifest.enrolments[past.period_id] < SMALL * 2.3  # 1-3 courses, about 2 on average


def test_deterministic_for_a_seed(tmp_path: Path):
    first = generate_demo(tmp_path / "a", today=TODAY, students=SMALL)
    simulate_demo.cache_clear()  # regenerate from scratch, not from the cache
    second = generate_demo(tmp_path / "b", today=TODAY, students=SMALL)
    other = generate_demo(tmp_path / "c", today=TODAY, students=SMALL, seed=8)
    for a, b, c in zip(first.files, second.files, other.files, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()
        assert a.path.read_bytes() != c.path.read_bytes()


def test_complete_current_term_and_helpers_agree_with_files(tmp_path: Path):
    manifest = generate_demo(tmp_path, today=TODAY, students=SMALL, complete_current=True)
    current = manifest.current
    weeks = [f for f in manifest.files if f.period_id == current.period_id and f.kind == "students"]
    assert len(weeks) == WEEKS and manifest.final_grade_files[-1] == tmp_path / current.period_id / "final_grades.csv"
    for demo_file in (weeks[0], weeks[-1]):
        assert make_snapshot_csv(current.period_id, demo_file.as_of_date, today=TODAY, students=SMALL) == (
            demo_file.path.read_bytes()
        )
    assert (
        final_grades_for(current.period_id, today=TODAY, students=SMALL) == manifest.final_grade_files[-1].read_bytes()
    )
    # Any date in the term gives a valid file; dates outside it are refused.
    mid_week = make_snapshot_csv(current.period_id, TODAY, today=TODAY, students=SMALL)
    assert validate_csv(mid_week).rows == manifest.enrolments[current.period_id]
    with pytest.raises(ValueError, match="outside"):
        make_snapshot_csv(current.period_id, current.end_date + timedelta(days=1), today=TODAY, students=SMALL)


def test_signals_accumulate_and_interim_grades_appear_part_way():
    term = simulate_demo(today=TODAY, students=SMALL).past
    weekly = _snapshots(term).sort_values(["user_id", "course_id", "week"])
    per_enrolment = weekly.groupby(["user_id", "course_id"])
    for column in ("lms_logins", "lms_active_minutes", "absences"):
        steps = per_enrolment[column].transform(lambda s: s.dropna().diff().min())
        assert (steps.dropna() >= 0).all(), column
    assert weekly["absences"].max() <= 3 * WEEKS
    for column in ("attendance_rate", "assignment_completion", "quiz_average"):
        assert weekly[column].dropna().between(0, 100).all(), column

    present = weekly.groupby("week")[["interim_grade_1", "interim_grade_2"]].apply(lambda f: f.notna().mean())
    assert (present.loc[1:4, "interim_grade_1"] == 0).all() and (present.loc[1:9, "interim_grade_2"] == 0).all()
    assert 0.85 < present.loc[5, "interim_grade_1"] < 1 and 0.85 < present.loc[10, "interim_grade_2"] < 1
    assert (present.loc[6:, "interim_grade_1"] == 1).all() and (present.loc[11:, "interim_grade_2"] == 1).all()


def test_missing_values_and_drifters_exist():
    term = simulate_demo(today=TODAY).past
    last = term.snapshot(term.period.end_date)
    assert 0.02 < last["study_time"].isna().mean() < 0.1 and 0.05 < last["previous_grade"].isna().mean() < 0.2
    assert 0 < last["quiz_average"].isna().mean() < 0.05 and last["lms_logins"].notna().all()
    # Drifters: logins in the last four weeks well under a third of those in the first four.
    logins = term.totals["logins"]
    early, late = logins[:, 4] - logins[:, 0], logins[:, WEEKS] - logins[:, WEEKS - 4]
    share = np.mean(late < early / 3)
    assert 0.02 < share < 0.15


def test_fail_rate_in_band():
    world = simulate_demo(today=TODAY)
    for term in (world.past, world.current):
        grades = term.final_grades()
        failed = grades["final_grade"] < PASS_MARK
        assert 0.2 <= failed.mean() <= 0.3, term.period.period_id
        assert failed.groupby(grades["course_id"]).mean().between(0.1, 0.45).all()
        assert grades["final_grade"].between(0, 20).all()


def _cv_auc(snapshot: pd.DataFrame, failed: pd.Series) -> float:
    features = snapshot.drop(columns=["user_id", "period_id", "as_of_date", "course_id", "sex", "address_type"])
    features = features.apply(lambda s: s.map({"yes": 1.0, "no": 0.0}) if s.isin(["yes", "no"]).any() else s)
    features = features.apply(pd.to_numeric).astype(float).dropna(axis=1, how="all")
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_predict(model, features, failed, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(failed, scores))


def test_final_grade_is_predictable_more_so_later_but_not_perfectly():
    term = simulate_demo(today=TODAY).past
    failed = term.final_grades()["final_grade"] < PASS_MARK
    early = _cv_auc(term.snapshot(term.period.week_end(2)), failed)
    late = _cv_auc(term.snapshot(term.period.end_date), failed)
    assert 0.75 < late < 0.97
    assert 0.6 < early < late - 0.03


def test_every_file_uploads_and_applies(engine, store, tmp_path: Path):
    manifest = generate_demo(tmp_path / "demo", today=TODAY, students=150)
    for period in manifest.periods:  # declared first, as the demo does
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
    for demo_file in manifest.files:
        receipt = receive_upload(engine, store, demo_file.path.read_bytes(), kind=demo_file.kind, source="demo")
        assert not receipt.is_duplicate
        apply_upload(engine, store, receipt.upload_id, grade_max=manifest.grade_max, pass_mark=manifest.pass_mark)

    with engine.connect() as conn:
        per_period = dict(
            conn.execute(
                sa.select(student_records.c.period_id, sa.func.count()).group_by(student_records.c.period_id)
            ).all()
        )
        graded = conn.execute(sa.select(final_grades.c.period_id, sa.func.count()).group_by("period_id")).all()
        statuses = conn.execute(sa.select(uploads.c.status).distinct()).scalars().all()
        latest = conn.execute(
            sa.select(sa.func.max(student_records.c.as_of_date)).where(
                student_records.c.period_id == manifest.current.period_id
            )
        ).scalar_one()
    assert per_period == manifest.enrolments
    assert graded == [(manifest.past.period_id, manifest.enrolments[manifest.past.period_id])]
    assert statuses == ["processed"]
    assert latest == manifest.current.week_end(7)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing here differs on PostgreSQL
def test_the_demo_declares_its_course_titles_and_marks_its_loading(settings, engine, monkeypatch):
    """The demo declares each course with its title and scale before its files arrive; while it loads, the home
    page can tell (the marker), and the marker is gone when the load ends."""
    from passcompass_assets import operations
    from passcompass_assets.core.courses import list_courses
    from passcompass_assets.core.datasets.loading import demo_loading

    seen: list[bool] = []
    monkeypatch.setattr(operations, "_receive", lambda s, files: seen.append(demo_loading(s.resolved_home)) or 0)
    operations.load_demo(settings, date(2026, 11, 2))
    assert seen == [True] and not demo_loading(settings.resolved_home)
    titles = {(c.course_id, c.title, c.grade_max, c.confirmed) for c in list_courses(engine)}
    assert {t[:2] for t in titles} >= {("demo-algebra", "Linear algebra"), ("demo-history", "Modern history")}
    assert all(grade_max == 20 and confirmed for *_, grade_max, confirmed in titles)


def test_the_activity_logs_end_before_today_and_those_who_fail_were_less_active(engine, tmp_path: Path):
    from passcompass_assets.core.activity.store import import_activity
    from passcompass_assets.core.courses import set_course

    manifest = generate_demo(tmp_path / "demo", today=TODAY, students=300)
    past, current = (pd.read_csv(f.path, dtype={"count": int}) for f in manifest.activity)
    assert current["timestamp"].max() < TODAY.isoformat()
    assert past["timestamp"].min() < manifest.past.start_date.isoformat()  # a look around the week before
    grades = pd.read_csv(io.BytesIO(final_grades_for(manifest.past.period_id, today=TODAY, students=300)))
    events = past.groupby(["user_id", "course_id"])["count"].sum()
    graded = grades.set_index(["user_id", "course_id"])["final_grade"]
    totals = events.reindex(graded.index, fill_value=0)
    assert totals[graded < PASS_MARK].mean() < 0.8 * totals[graded >= PASS_MARK].mean()
    for period in manifest.periods:
        upsert_period(engine, Period(period.period_id, period.start_date, period.end_date, period.cadence_weeks))
        for course in manifest.courses:
            set_course(engine, course.course_id, period.period_id, manifest.grade_max, manifest.pass_mark)
    for demo_file in manifest.activity:
        with demo_file.path.open("rb") as log:
            receipt = import_activity(engine, log, "generic")
        assert receipt.skipped == {} and receipt.events_counted == receipt.rows
