"""Point in time (SQLite and PostgreSQL): the dated history, reports as of their date, training rows built by the
same code as the rows a report scores, and validation and the gate on the institution's own students."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import DataDrivenModel, declare_periods

from passcompass_assets.core.datasets.demo import demo_periods, final_grades_for, make_snapshot_csv
from passcompass_assets.core.db.tables import record_versions, student_records
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.features import model_frame
from passcompass_assets.core.ml.own_students import validate
from passcompass_assets.core.ml.training import train_and_gate
from passcompass_assets.core.ml.training_data import TrainingData, own_training_rows, training_data
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.records import TERM_WEEK, scoring_rows
from passcompass_assets.core.reports.service import generate_report
from passcompass_assets.features.dbt_project import run_dbt_build

TODAY = date(2026, 3, 11)
HEADER = b"user_id,course_id,period_id,as_of_date,absences,quiz_average\n"


def _apply(engine, store, content: bytes, kind: str = "students") -> None:
    apply_upload(engine, store, receive_upload(engine, store, content, kind=kind).upload_id)  # type: ignore[arg-type]


def test_a_history_backfill_is_one_file_and_never_moves_the_current_state_back(engine, store) -> None:
    declare_periods(engine, "t")
    _apply(engine, store, HEADER + b"s1,c,t,2026-10-05,5,60\n")
    backfill = HEADER + b"s1,c,t,2026-09-14,1,70\ns1,c,t,2026-09-21,2,65\ns2,c,t,2026-09-21,0,90\n"
    _apply(engine, store, backfill)
    with engine.connect() as conn:
        versions = conn.execute(
            sa.select(record_versions.c.user_id, record_versions.c.valid_from, record_versions.c.absences).order_by(
                record_versions.c.user_id, record_versions.c.valid_from
            )
        ).all()
        current = conn.execute(
            sa.select(student_records.c.user_id, student_records.c.absences).order_by(student_records.c.user_id)
        ).all()
    assert [(u, str(d), a) for u, d, a in versions] == [
        ("s1", "2026-09-14", 1),
        ("s1", "2026-09-21", 2),
        ("s1", "2026-10-05", 5),
        ("s2", "2026-09-21", 0),
    ]
    assert [tuple(r) for r in current] == [("s1", 5), ("s2", 0)]  # the older backfill left s1's newer state alone
    with pytest.raises(Rejected) as twice:
        receive_upload(engine, store, HEADER + b"s1,c,t,2026-09-14,1,70\ns1,c,t,2026-09-14,2,70\n")
    [problem] = twice.value.problems
    assert (problem.rows, problem.count, problem.column) == ("2-3", 2, "user_id")
    assert (
        problem.message == "the same user_id more than once for one course, period and date: keep one row per student"
    )


def test_a_report_made_later_for_a_past_date_equals_the_one_made_then(engine, store, settings) -> None:
    _, current = demo_periods(TODAY)
    upsert_period(engine, Period(current.period_id, current.start_date, current.end_date, current.cadence_weeks))
    week = current.start_date + timedelta(weeks=3)
    for days in range(6, 22, 7):  # the snapshots up to week 3
        _apply(
            engine,
            store,
            make_snapshot_csv(current.period_id, current.start_date + timedelta(days=days), today=TODAY, students=120),
        )
    then = generate_report(engine, settings, DataDrivenModel(), "demo-algebra", current.period_id, week)  # type: ignore[arg-type]
    for days in range(27, 63, 7):  # weeks 4 to 9 arrive
        _apply(
            engine,
            store,
            make_snapshot_csv(current.period_id, current.start_date + timedelta(days=days), today=TODAY, students=120),
        )
    later = generate_report(engine, settings, DataDrivenModel(), "demo-algebra", current.period_id, week)  # type: ignore[arg-type]
    today = generate_report(
        engine, settings, DataDrivenModel(), "demo-algebra", current.period_id, current.start_date + timedelta(weeks=9)
    )  # type: ignore[arg-type]

    def rows(record: object) -> pd.DataFrame:
        import json

        return pd.DataFrame(json.loads(record.file(settings.reports_dir, "json").read_text())["rows"])  # type: ignore[attr-defined]

    pd.testing.assert_frame_equal(rows(then), rows(later))
    assert (
        then.header["data_as_of"] == later.header["data_as_of"] == (current.start_date + timedelta(days=20)).isoformat()
    )
    assert not rows(today).equals(rows(then))  # the later data does change a later report


@pytest.mark.slow
def test_a_training_row_is_built_like_the_row_a_report_scores(engine, store, settings) -> None:
    """The same student at the same report date: from the dbt mart (training) and from the operational history
    (a report) through the same point-in-time code, the same model inputs."""
    past, _ = demo_periods(TODAY)
    upsert_period(engine, Period(past.period_id, past.start_date, past.end_date, past.cadence_weeks))
    for week in range(1, 14):
        _apply(engine, store, make_snapshot_csv(past.period_id, past.week_end(week), today=TODAY, students=120))
    _apply(engine, store, final_grades_for(past.period_id, today=TODAY, students=120), "final_grades")
    run_dbt_build(settings)
    training = own_training_rows(engine)
    period = Period(past.period_id, past.start_date, past.end_date, past.cadence_weeks)
    day = past.start_date + timedelta(weeks=6)
    at_week_6 = training[(training["report_date"] == day) & (training["course_id"] == "demo-history")]
    report = scoring_rows(engine, "demo-history", period, day)
    assert len(at_week_6) == len(report) > 0 and (at_week_6[TERM_WEEK] == 6.0).all()
    columns = ["absences", "attendance_rate", "quiz_average", "interim_grade_1", "lms_logins", TERM_WEEK]
    trained = model_frame(at_week_6.sort_values("user_id").reset_index(drop=True), columns)
    scored = model_frame(report.sort_values("user_id").reset_index(drop=True), columns)
    pd.testing.assert_frame_equal(trained, scored, check_dtype=False)
    # Absences accumulate: the model sees them per week of term, so week 6 and the end of term compare.
    end = training[(training["report_date"] == past.end_date) & (training["course_id"] == "demo-history")]
    assert abs(model_frame(end, ["absences", TERM_WEEK])["absences"].mean() - trained["absences"].mean()) < 1.0


def _synthetic(period: str, start: date, students: int, signal: bool, seed: int) -> pd.DataFrame:
    """Rows of one labelled period at its report dates (weeks 3, 6, 9): the quiz average predicts failing, or not."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(0, 1, students)
    failed = rng.random(students) < (1 / (1 + np.exp(2 * ability + 1)) if signal else 0.3)
    frames = []
    for week in (3, 6, 9):
        frames.append(
            pd.DataFrame(
                {
                    "user_id": [f"{period}-s{i}" for i in range(students)],
                    "course_id": "c1",
                    "period_id": period,
                    "report_date": start + timedelta(weeks=week),
                    TERM_WEEK: float(week),
                    "quiz_average": np.clip(60 + 15 * ability + rng.normal(0, 10 - week / 2, students), 0, 100),
                    "absences": rng.poisson(week * 0.5, students),
                    "final_grade": np.where(failed, 6.0, 14.0),
                    "grade_max": 20.0,
                    "pass_mark": 10.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_validation_holds_out_the_latest_period_and_reports_each_week(settings) -> None:
    own = pd.concat(
        [
            _synthetic("2025-autumn", date(2025, 9, 1), 400, True, 1),
            _synthetic("2026-spring", date(2026, 2, 2), 400, True, 2),
        ],
        ignore_index=True,
    )
    data = training_data(pd.DataFrame(), own)
    from passcompass_assets.core.ml.fitting import fit_and_evaluate

    validation = validate(data, fit_and_evaluate(data.frame, n_repeats=1))
    assert validation.method == "held-out period" and validation.held_out == "2026-spring"
    assert validation.trained_on == ["2025-autumn"]
    assert [w.week for w in validation.weeks] == [3, 6, 9]
    overall = validation.overall
    assert overall is not None and overall.auc is not None and overall.auc > 0.75
    low, high = overall.auc_interval or (0, 0)
    assert low < overall.auc < high and overall.students == 400 and overall.rows == 1200
    assert 0 <= overall.ece < 0.2 and overall.calibration_slope is not None


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_gate_judges_the_institutions_own_students_not_the_pooled_data(settings, uci_dir) -> None:
    """600 students of a university whose outcomes depend on nothing, pooled with UCI: not promoted, and said so."""
    from passcompass_assets.core.datasets.uci import load_uci_dir

    own = _synthetic("2026-spring", date(2026, 2, 2), 600, False, 3)
    own = own.drop(columns=["absences"]).assign(quiz_average=lambda f: np.random.default_rng(9).uniform(0, 100, len(f)))
    data = training_data(load_uci_dir(uci_dir), own.iloc[0:0])
    assert data.prior_rows > 0
    data = TrainingData(pd.concat([load_uci_dir(uci_dir), own], ignore_index=True), own, data.prior_rows, "test")
    outcome = train_and_gate(data, settings, n_repeats=1)
    assert not outcome.promoted
    assert outcome.reason.startswith("not promoted: no predictive signal on the institution's own students")
    assert outcome.validation is not None and outcome.validation.method == "cross-validation"


def _rows_at(term: object, period: Period, day: date) -> pd.DataFrame:
    """The demo term's students as known on ``day``, validated as an upload would be, at their term position."""
    from passcompass_assets.core.datasets.demo import to_csv_bytes
    from passcompass_assets.core.ingest.validation import validate_csv
    from passcompass_assets.core.records import term_week

    frame = validate_csv(to_csv_bytes(term.snapshot(day))).frame  # type: ignore[attr-defined]
    return frame.assign(grade_max=20.0, pass_mark=10.0, term_week=term_week(period, day), report_date=day)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_reason_contradicts_what_the_data_shows(settings) -> None:
    """Trained on the demo's past term (one row per student and report date), the reasons given at week 6 of the
    current term never say attendance high raises risk, or absences low do: correlated inputs are one factor,
    and a factor against the training data's direction is not named."""
    from passcompass_assets.core.cadence import report_dates
    from passcompass_assets.core.datasets.demo import simulate_demo
    from passcompass_assets.core.ml.fitting import fit_and_evaluate

    world = simulate_demo(today=TODAY, students=400)
    past, current = demo_periods(TODAY)
    past_period = Period(past.period_id, past.start_date, past.end_date, past.cadence_weeks)
    current_period = Period(current.period_id, current.start_date, current.end_date, current.cadence_weeks)
    grades = world.term(past.period_id).final_grades()[["user_id", "course_id", "final_grade"]]
    training = pd.concat(
        [_rows_at(world.term(past.period_id), past_period, day) for day in report_dates(past_period)], ignore_index=True
    ).merge(grades, on=["user_id", "course_id"])
    model = fit_and_evaluate(training, n_repeats=1).model
    assert model is not None
    scored = model.predict(
        _rows_at(world.term(current.period_id), current_period, current.start_date + timedelta(weeks=6))
    )
    checked = 0
    for factors in scored["factors"]:
        for factor in json.loads(factors):
            if factor["kind"] != "reason" or factor["feature"] not in ("attendance_rate", "absences"):
                continue
            # Every reason raises the risk: lower attendance, or more absences, than the course at that week.
            checked += 1
            gap = factor["value"] - factor["course_value"]
            assert factor["direction"] == "raises risk" and (
                gap < 0 if factor["feature"] == "attendance_rate" else gap > 0
            )
    assert checked > 50  # attendance and absences are among the reasons of many students
