"""Did help help: the actions recorded beside the outcomes of the flagged students, descriptive only, small groups
suppressed; computed on known numbers, then through the evaluation on SQLite and PostgreSQL (JSON and HTML)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from passcompass_assets.core.actions import record_action
from passcompass_assets.core.courses import set_course
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.helped import did_help_help
from passcompass_assets.core.reports.outcomes import OutcomePolicy, evaluate_period, store_evaluation
from passcompass_assets.core.reports.store import store_report

D1, D2, D3 = date(2026, 9, 28), date(2026, 10, 19), date(2026, 11, 9)


def judged_rows() -> pd.DataFrame:
    """100 students in three reports: u0-u29 flagged from the first report, u30-u59 from the second, the rest never."""
    rows = []
    for i in range(100):
        failed = i < 10 or 25 <= i < 45
        grade = 5.0 if failed else 15.0
        for day in (D1, D2, D3):
            high = i < 30 or (i < 60 and day >= D2)
            rows.append({"user_id": f"u{i}", "report_date": day, "risk_band": "high" if high else "low",
                         "failed": failed, "final_grade": grade})  # fmt: skip
    return pd.DataFrame(rows)


def actions_of(pairs: list[tuple[range, str, date]]) -> pd.DataFrame:
    rows = [{"user_id": f"u{i}", "kind": kind, "recorded_at": pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=10)}
            for users, kind, day in pairs for i in users]  # fmt: skip
    return pd.DataFrame(rows)


def test_per_kind_outcomes_beside_no_action_with_small_groups_suppressed():
    actions = actions_of(
        [
            (range(0, 25), "contacted", D1 + timedelta(days=3)),
            (range(0, 5), "meeting_held", D1 + timedelta(days=10)),
            (range(50, 52), "not_useful", D2),
            (range(52, 55), "incorrectly_flagged", D2 + timedelta(days=1)),
            (range(70, 71), "contacted", D1),  # never flagged: not counted
        ]
    )
    analysis = did_help_help(judged_rows(), actions, min_group=20)
    assert "not causal" in analysis.note and "Groups under 20 students" in analysis.note
    assert analysis.flagged_students == 60 and analysis.flagged_with_action == 30
    kinds = {k.group: k for k in analysis.kinds}
    contacted = kinds["contacted"]
    assert (contacted.students, contacted.reported, contacted.median_days_after_first_flag) == (25, True, 3.0)
    assert contacted.failure_rate == 0.4 and contacted.mean_final_grade == 11.0  # u0-u9 of 25 failed
    meeting = kinds["meeting_held"]
    assert meeting.students == 5 and not meeting.reported and meeting.failure_rate is None
    assert meeting.median_days_after_first_flag is None  # suppressed with the rest of the group
    assert kinds["referred"].students == 0 and not kinds["referred"].reported
    none = analysis.without_action  # u25-u49 and u55-u59: flagged, nothing recorded
    assert (none.group, none.students, none.reported) == ("no action", 30, True)
    assert none.failure_rate == round(20 / 30, 4) and none.mean_final_grade == round(250 / 30, 2)
    feedback = analysis.flag_feedback
    assert (feedback.flagged_students, feedback.marked_not_useful, feedback.marked_incorrectly_flagged) == (60, 2, 3)
    assert feedback.share_not_useful == round(2 / 60, 4) and feedback.share_incorrectly_flagged == 0.05
    assert feedback.incorrectly_flagged_passed is None  # 3 students: too few to say
    assert set(analysis.suppressed) == {"meeting_held", "not_useful", "incorrectly_flagged"}

    # An action before the first flag counts with negative days; with a small minimum every group shows.
    early = actions_of([(range(30, 40), "tutoring_offered", D1)])  # u30-u39 are first flagged on D2
    shown = {k.group: k for k in did_help_help(judged_rows(), early, min_group=5).kinds}
    assert shown["tutoring_offered"].median_days_after_first_flag == -21.0
    assert shown["tutoring_offered"].failure_rate == 1.0  # u30-u39 all failed (u25-u44 did)


def test_no_actions_at_all():
    empty = pd.DataFrame({"user_id": pd.Series(dtype=str), "kind": pd.Series(dtype=str),
                          "recorded_at": pd.Series(dtype="datetime64[ns, UTC]")})  # fmt: skip
    analysis = did_help_help(judged_rows(), empty, min_group=20)
    assert analysis.flagged_with_action == 0 and all(k.students == 0 for k in analysis.kinds)
    assert analysis.without_action.students == 60 and analysis.flag_feedback.share_not_useful == 0.0


def test_the_evaluation_shows_it_in_json_and_html(client, engine, settings, store):
    period = Period("p-help", D1 - timedelta(weeks=3), D3 + timedelta(weeks=3), 3)
    upsert_period(engine, period)
    set_course(engine, "bio", period.period_id, 20.0, 10.0)
    users = [f"b{i:02d}" for i in range(40)]
    for day in (D1, D2):
        probabilities = [0.8 if i < 24 else 0.1 for i in range(40)]
        scored = pd.DataFrame({"user_id": users, "fail_probability": probabilities,
                               "predicted_final_grade": [20 * (1 - p) for p in probabilities],
                               "top_factors": "", "signals_available": "first interim grade"})  # fmt: skip
        report = build_report(scored, course_id="bio", period=period, as_of=day, model=ModelInfo(version="1"),
                              risk_high=0.5, risk_medium=0.25)  # fmt: skip
        store_report(engine, settings.reports_dir, report)
    at = datetime.combine(D1 + timedelta(days=2), datetime.min.time(), UTC)
    for i in range(12):
        record_action(engine, course_id="bio", period_id=period.period_id, user_id=users[i], kind="contacted",
                      actor="token:t", note="private", at=at)  # fmt: skip
    record_action(engine, course_id="bio", period_id=period.period_id, user_id=users[20], kind="not_useful",
                  actor="token:t")  # fmt: skip
    grades = "user_id,course_id,period_id,final_grade\n" + "".join(
        f"{u},bio,{period.period_id},{6 if i < 6 or 12 <= i < 22 else 14}\n" for i, u in enumerate(users)
    )
    apply_upload(engine, store, receive_upload(engine, store, grades.encode(), kind="final_grades").upload_id)
    evaluation = evaluate_period(
        engine, settings.reports_dir, "bio", period.period_id, period.end_date, OutcomePolicy(min_group=10)
    )
    store_evaluation(settings.reports_dir, evaluation)

    params = {"course_id": "bio", "period_id": period.period_id}
    body = client.get("/api/v1/evaluations", params=params).json()
    helped = body["help"]
    contacted = next(k for k in helped["kinds"] if k["group"] == "contacted")
    expected = {"median_days_after_first_flag": 2.0, "failure_rate": 0.5, "mean_final_grade": 10.0}
    assert contacted == {"group": "contacted", "label": "contacted", "students": 12, "reported": True, **expected}
    assert helped["without_action"]["students"] == 11 and helped["without_action"]["failure_rate"] == round(9 / 11, 4)
    assert helped["flag_feedback"]["share_not_useful"] == round(1 / 24, 4)
    assert "private" not in str(body)
    html = client.get("/api/v1/evaluations", params={**params, "format": "html"}).text
    assert 'id="did-help-help"' in html and "descriptive, not causal" in html and "Descriptive, not causal" in html
    assert '<tr data-group="contacted"><td>contacted</td><td class="num">12</td>' in html
    assert "too few to report" in html  # not_useful: one student
    assert 'marked "not useful" (4 %)' in " ".join(html.split())
