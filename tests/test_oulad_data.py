"""The OULAD benchmark's data side: facts of the real tables and the point-in-time rule of its snapshots."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package
from benchmarks.oulad_data import (  # noqa: E402
    GRADE_MAX,
    PASS_MARK,
    SNAPSHOT_COLUMNS,
    OuladTables,
    enrolled_at,
    final_results,
    load_oulad,
    period_dates,
    snapshot,
    to_csv_bytes,
    weekly_snapshots,
)

OULAD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"
PRESENTATIONS = ("2013B", "2013J", "2014B", "2014J")


@pytest.fixture(scope="module")
def tables() -> OuladTables:
    if not (OULAD_DIR / "studentInfo.csv").exists():
        pytest.skip(f"OULAD files not found at {OULAD_DIR}")
    return load_oulad(OULAD_DIR)


def _registrations(tables: OuladTables, presentation: str) -> pd.DataFrame:
    registration = tables.registration
    return registration[registration["code_presentation"] == presentation]


def test_missing_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "courses.csv").write_text("code_module\n")
    with pytest.raises(FileNotFoundError, match="studentAssessment.csv"):
        load_oulad(tmp_path)


def test_period_dates_start_on_the_chosen_mondays(tables: OuladTables) -> None:
    dates = period_dates(tables)
    assert dates["2013B"][0] == date(2013, 2, 4)
    assert dates["2014J"] == (date(2014, 10, 6), date(2015, 7, 2))  # longest 2014J module: 269 days
    assert all(start.weekday() == 0 for start, _ in dates.values())


def test_final_result_counts_map_to_grades(tables: OuladTables) -> None:
    # README counts: Pass 12,361; Withdrawn 10,156; Fail 7,052; Distinction 3,024 (all 22 module presentations).
    grades = pd.concat([final_results(tables, p) for p in PRESENTATIONS])["final_grade"]
    assert grades.value_counts().to_dict() == {2: 12361, 0: 10156, 1: 7052, 3: 3024}
    assert grades.max() == GRADE_MAX
    assert (grades >= PASS_MARK).sum() == 12361 + 3024


def test_nothing_is_submitted_before_the_earliest_submission(tables: OuladTables) -> None:
    frame = snapshot(tables, "2014J", -12)  # earliest date_submitted in OULAD is day -11
    assert frame["assessments_submitted"].sum() == 0
    assert frame["weighted_mean_score"].isna().all()


def test_day_zero_counts_only_banked_and_early_submissions(tables: OuladTables) -> None:
    # Not "nothing at day 0": banked results carry date_submitted = -1, and a few submissions are early.
    frame = snapshot(tables, "2014J", 0)
    assert (frame["assessments_due"] == 0).all() and frame["submitted_share"].isna().all()
    known = set(zip(frame["course_id"], frame["user_id"].astype(int), strict=True))
    subs = tables.student_assessment.merge(tables.assessments, on="id_assessment")
    subs = subs[(subs["code_presentation"] == "2014J") & (subs["assessment_type"] != "Exam")]
    early = subs[(subs["date_submitted"] <= 0)]
    early = early[[key in known for key in zip(early["code_module"], early["id_student"], strict=True)]]
    assert frame["assessments_submitted"].sum() == len(early) == 870
    assert early["is_banked"].sum() > len(early) / 2


def test_a_late_submission_counts_only_from_its_day(tables: OuladTables) -> None:
    # Student 24734, AAA 2014J: TMA 1758 was due on day 19 and submitted on day 23 (score 41).
    def row(day: int) -> pd.Series:
        frame = snapshot(tables, "2014J", day)
        return frame[(frame["user_id"] == "24734") & (frame["course_id"] == "AAA")].iloc[0]

    before, after = row(22), row(23)
    assert (before["assessments_due"], before["assessments_submitted"], before["submitted_share"]) == (1, 0, 0.0)
    assert pd.isna(before["last_score"])
    assert (after["assessments_submitted"], after["submitted_share"], after["last_score"]) == (1, 100.0, 41.0)
    assert after["mean_days_late"] == 4.0


def test_withdrawal_appears_only_from_the_unregistration_day(tables: OuladTables) -> None:
    # Student 79403, AAA 2014J, unregistered on day 164 (2014-10-06 + 164 days = 2015-03-19).
    def row(day: int) -> pd.Series:
        frame = snapshot(tables, "2014J", day)
        return frame[(frame["user_id"] == "79403") & (frame["course_id"] == "AAA")].iloc[0]

    assert row(163)["enrolment_status"] == "active" and row(163)["withdrawal_date"] == ""
    assert row(164)["enrolment_status"] == "withdrawn" and row(164)["withdrawal_date"] == "2015-03-19"

    # And for everyone, every week: withdrawn exactly when unregistered by the cutoff.
    weeks = weekly_snapshots(tables, "2014J", range(0, 39))
    unregistered = _registrations(tables, "2014J").assign(user_id=lambda f: f["id_student"].astype(str))
    joined = weeks.merge(
        unregistered.rename(columns={"code_module": "course_id"}), on=["course_id", "user_id"], validate="many_to_one"
    )
    cutoff = (pd.to_datetime(joined["as_of_date"]) - pd.Timestamp("2014-10-06")).dt.days
    assert ((joined["date_unregistration"] <= cutoff) == (joined["enrolment_status"] == "withdrawn")).all()
    assert (enrolled_at(weeks) == (weeks["enrolment_status"] == "active")).all()


@pytest.mark.parametrize("presentation", PRESENTATIONS)
def test_rows_are_the_registrations(tables: OuladTables, presentation: str) -> None:
    registrations = _registrations(tables, presentation)
    end = snapshot(tables, presentation, 269)  # after every registration (the latest is day 167)
    assert len(end) == len(registrations)
    assert not end.duplicated(["user_id", "course_id"]).any()
    assert list(end.columns) == SNAPSHOT_COLUMNS
    # Earlier, a student who registers after the cutoff is not known yet.
    week_one = snapshot(tables, presentation, 7)
    assert len(week_one) == len(registrations) - (registrations["date_registration"] > 7).sum()


def test_csv_bytes_leave_missing_values_empty(tables: OuladTables) -> None:
    frame = snapshot(tables, "2014J", 0).head(2)
    text = to_csv_bytes(frame).decode("utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",") == SNAPSHOT_COLUMNS
    assert ",nan" not in text.lower() and ",<na>" not in text.lower()
    assert first.split(",")[SNAPSHOT_COLUMNS.index("weighted_mean_score")] == ""
