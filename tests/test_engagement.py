"""Engagement as of a report's date: counted from the activity history of the days before it, the same for a
training row and a report; a course without logs gets no values; a student silent two weeks is named in the
reasons, whatever the model's probability."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import DataDrivenModel

from passcompass_assets.core.activity.engagement import read_activity, with_engagement
from passcompass_assets.core.activity.store import import_activity
from passcompass_assets.core.catalog import ACTIVITY_FEATURES, load_catalog
from passcompass_assets.core.courses import set_course
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.records import scoring_rows
from passcompass_assets.core.reports.service import generate_report
from passcompass_assets.core.reports.term import report_rows

TERM = Period("2026-autumn", date(2026, 9, 7), date(2026, 12, 18), 3)
REPORT_DAY = date(2026, 10, 5)  # week 4


def activity(*rows: tuple[str, str, int]) -> pd.DataFrame:
    """(user, day, events) of course c1 in TERM."""
    frame = pd.DataFrame(rows, columns=["user_id", "day", "events"]).assign(course_id="c1", period_id=TERM.period_id)
    return frame.assign(day=pd.to_datetime(frame["day"]))


def students(*users: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(users), "course_id": "c1", "period_id": TERM.period_id})


def test_engagement_counts_only_the_days_before_the_report() -> None:
    log = activity(
        ("a", "2026-09-01", 5),  # before the term
        ("a", "2026-09-28", 2),  # 7 days before: inside the last 7
        ("a", "2026-10-04", 3),
        ("a", "2026-10-05", 40),  # the report's own day: not known yet
        ("b", "2026-09-20", 1),  # 15 days before: the last 14 miss it
    )
    rows = with_engagement(students("a", "b", "c"), log, TERM, REPORT_DAY).set_index("user_id")
    assert list(rows["active_days_last_7"]) == [2, 0, 0] and list(rows["events_last_7"]) == [5, 0, 0]
    assert list(rows["active_days_last_14"]) == [2, 0, 0] and list(rows["events_last_14"]) == [5, 0, 0]
    assert list(rows["days_since_active"]) == [1, 15, 28]  # c: silent since the term began
    assert list(rows["activity_before_term"]) == [5, 0, 0]
    assert list(rows["activity_vs_course"]) == [5.0, 1.0, 0.0]  # in-term events over the median (1)
    assert list(rows["last_active_on"]) == [date(2026, 10, 4), date(2026, 9, 20), None]


def test_a_course_whose_platform_sends_no_logs_gets_no_values() -> None:
    rows = with_engagement(students("a", "b"), activity(), TERM, REPORT_DAY)
    assert rows[list(ACTIVITY_FEATURES)].isna().all().all() and rows["last_active_on"].isna().all()


def test_engagement_features_are_model_inputs_never_upload_columns() -> None:
    catalog = load_catalog()
    assert set(ACTIVITY_FEATURES) <= {c.name for c in catalog.inputs}
    assert not set(ACTIVITY_FEATURES) & {c.name for c in catalog.stored_features}
    assert not set(ACTIVITY_FEATURES) & set(catalog.header_lookup.values())


def _course_with_activity(engine: sa.Engine, store: object) -> None:
    upsert_period(engine, TERM)
    set_course(engine, "c1", TERM.period_id, 20, 10)
    snapshot = "user_id,course_id,period_id,as_of_date,absences\n" + "".join(
        f"s{i},c1,{TERM.period_id},2026-09-28,{i}\n" for i in range(1, 5)
    )
    apply_upload(engine, store, receive_upload(engine, store, snapshot.encode()).upload_id)  # type: ignore[arg-type]
    log = "user_id,course_id,timestamp,event_type\n" + "".join(
        f"s{i},c1,2026-10-0{day},content\n" for i in (1, 2, 3) for day in (1, 2, 5)
    )
    log += "s4,c1,2026-09-10,quiz\n"  # s4: silent since 10 Sep
    import_activity(engine, io.BytesIO(log.encode()), "generic")


def test_a_report_names_a_silent_student_and_carries_last_active_on(engine, store, settings) -> None:
    _course_with_activity(engine, store)
    rows = scoring_rows(engine, "c1", TERM, REPORT_DAY).set_index("user_id")
    assert rows.loc["s1", "events_last_7"] == 2  # the 5 Oct event is the report day's own: not yet known
    assert rows.loc["s4", "days_since_active"] == 25
    record = generate_report(engine, settings, DataDrivenModel(), "c1", TERM.period_id, REPORT_DAY)  # type: ignore[arg-type]
    students = report_rows(settings.reports_dir, record).set_index("user_id")
    assert students.loc["s4", "top_factors"].startswith("no activity since 10 Sep")
    assert students.loc["s4", "last_active_on"] == "2026-09-10"
    assert students.loc["s1", "last_active_on"] == "2026-10-02"
    assert not students.loc["s1", "top_factors"].startswith("no activity")


def test_read_activity_sums_kinds_and_stops_before_a_day(engine, store) -> None:
    _course_with_activity(engine, store)
    known = read_activity(engine, ["c1"], [TERM.period_id], until=date(2026, 10, 2))
    assert sorted(known["day"].dt.date.unique()) == [date(2026, 9, 10), date(2026, 10, 1)]
    assert int(known["events"].sum()) == 4
    assert np.issubdtype(known["events"].dtype, np.integer)


@pytest.mark.parametrize("when", [date(2026, 9, 14), date(2026, 9, 30)])
def test_a_student_without_any_activity_is_named_once_the_term_is_two_weeks_old(when: date) -> None:
    from passcompass_assets.core.activity.engagement import silence_reason

    named = silence_reason(None, when, TERM)
    assert (named is not None) == (when >= date(2026, 9, 21))


def test_a_deployment_catalog_turns_an_engagement_feature_off(tmp_path, monkeypatch) -> None:
    from passcompass_assets.core.catalog import read_catalog

    deployment = tmp_path / "catalog.yaml"
    deployment.write_text("columns:\n  - name: activity_before_term\n    use: ignore\n")
    catalog = read_catalog(deployment)
    assert "activity_before_term" not in {c.name for c in catalog.inputs}
    assert "days_since_active" in {c.name for c in catalog.inputs}
    assert "activity_before_term" not in {c.name for c in catalog.stored_features}  # nothing to store either
