"""One rule picks a course's period when none is named, and the report API, report requests and the course page
follow it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from passcompass_assets.core.access.roles import Principal
from passcompass_assets.core.db.tables import periods
from passcompass_assets.core.errors import NotFound
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.period_choice import (
    latest_report,
    period_to_show,
    periods_holding,
    periods_to_show,
)
from passcompass_assets.core.reports.requests import reportable_period
from passcompass_assets.core.reports.store import store_report
from passcompass_assets.core.workspace import course_page

TODAY = date.today()
CURRENT = Period("now", TODAY - timedelta(weeks=4), TODAY + timedelta(weeks=9), 3)
PAST = Period("before", TODAY - timedelta(weeks=30), TODAY - timedelta(weeks=17), 3)


def upload(engine, store, course: str, period: str) -> None:
    csv = f"user_id,course_id,period_id\ns1,{course},{period}\n".encode()
    apply_upload(engine, store, receive_upload(engine, store, csv).upload_id)


def add_report(engine, settings, course: str, period: Period, day: date) -> str:
    scored = pd.DataFrame(
        {"user_id": ["s1"], "fail_probability": [0.7], "predicted_final_grade": [6.0], "top_factors": [""],
         "signals_available": ["none"]}
    )  # fmt: skip
    report = build_report(
        scored, course_id=course, period=period, as_of=day, model=None, risk_high=0.5, risk_medium=0.25
    )
    return store_report(engine, settings.reports_dir, report)


def agreed(engine, settings, course: str) -> str | None:
    """The period every caller shows for ``course``; fails unless the report API and the course page agree."""
    choice = period_to_show(engine, course, TODAY)
    assert latest_report(engine, course, None, TODAY).choice == choice
    page = course_page(engine, settings.reports_dir, course, None, TODAY)
    assert page is None or page.period_id == choice.period_id
    return choice.period_id


def test_each_reason(engine, settings, store):
    assert period_to_show(engine, "math", TODAY).reason == "none"
    assert latest_report(engine, "math", None, TODAY).explanation("math").endswith("no period is current")
    with pytest.raises(NotFound):
        reportable_period(engine, "math", None, TODAY)

    upsert_period(engine, PAST)
    upsert_period(engine, CURRENT)
    waiting = latest_report(engine, "math", None, TODAY)
    assert (waiting.choice.period_id, waiting.choice.reason) == ("now", "current_without_data")
    assert waiting.record is None and waiting.next_due == CURRENT.start_date + timedelta(weeks=6)
    assert "no data in the current period" in (waiting.choice.note("math") or "")

    add_report(engine, settings, "math", PAST, PAST.end_date)  # a report without records (erased since)
    assert period_to_show(engine, "math", TODAY).reason == "latest_report"
    assert agreed(engine, settings, "math") == "before"

    # A period only uploads named (from before periods had to be declared): declared, uploaded to, then undated.
    upsert_period(engine, Period("old-undated", date(2020, 1, 6), date(2020, 6, 1), 3))
    upload(engine, store, "math", "old-undated")
    with engine.begin() as conn:
        conn.execute(periods.delete().where(periods.c.period_id == "old-undated"))
    assert period_to_show(engine, "math", TODAY).reason == "latest_data"
    assert agreed(engine, settings, "math") == "old-undated"
    assert reportable_period(engine, "math", None, TODAY) == "old-undated"

    upload(engine, store, "math", "now")
    choice = period_to_show(engine, "math", TODAY)
    assert (choice.period_id, choice.reason, choice.note("math")) == ("now", "current", None)
    assert agreed(engine, settings, "math") == "now"
    assert reportable_period(engine, "math", None, TODAY) == "now"

    named = period_to_show(engine, "math", TODAY, "before")
    assert (named.period_id, named.reason) == ("before", "requested")
    assert latest_report(engine, "math", "before", TODAY).record is not None
    with pytest.raises(NotFound):
        reportable_period(engine, "math", "before", TODAY)  # a report needs records in the period


def test_a_current_report_wins_over_newer_data_elsewhere(engine, settings, store):
    upsert_period(engine, CURRENT)
    add_report(engine, settings, "bio", CURRENT, CURRENT.start_date + timedelta(weeks=3))
    upsert_period(engine, Period("later-undated", TODAY + timedelta(weeks=30), TODAY + timedelta(weeks=45), 3))
    upload(engine, store, "bio", "later-undated")
    assert period_to_show(engine, "bio", TODAY).reason == "current"
    assert agreed(engine, settings, "bio") == "now"


def test_a_reader_is_offered_only_the_terms_of_their_courses(engine, settings, store):
    """An instructor's terms are those holding a course of theirs (data or a report); an admin's are all."""
    upsert_period(engine, PAST)
    upsert_period(engine, CURRENT)
    upload(engine, store, "math", "now")
    add_report(engine, settings, "bio", PAST, PAST.end_date)
    admin = Principal("token:a", frozenset({"admin"}))
    bio, math = (Principal("token:i", frozenset({"instructor"}), frozenset({c})) for c in ("bio", "math"))
    nobody = Principal("token:n", frozenset({"viewer"}), frozenset({"chemistry"}))
    assert periods_holding(engine, None) is None and periods_holding(engine, admin) is None
    assert periods_holding(engine, bio) == {"before"} and periods_holding(engine, math) == {"now"}
    assert periods_holding(engine, nobody) == set()

    periods = [PAST, CURRENT]
    assert periods_to_show(periods, [], TODAY, None, None) == (["now"], "")
    shown, notice = periods_to_show(periods, [], TODAY, None, periods_holding(engine, bio))
    assert shown == ["before"] and notice.startswith("None of your courses is in a current period; showing")
    shown, notice = periods_to_show(periods, [], TODAY, "now", {"before"})
    assert shown == ["before"] and notice.startswith("There is no period named 'now' among your courses' terms.")
    assert periods_to_show(periods, [], TODAY, None, set()) == ([], "")
