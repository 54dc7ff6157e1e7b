"""Periods, report files and downloads through the API, on SQLite and PostgreSQL (reports built from scores)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pandas as pd

from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import ModelInfo, build_report
from passcompass_assets.core.reports.store import store_report


def scored(users: list[str], probabilities: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": users,
            "fail_probability": probabilities,
            "predicted_final_grade": [20 * (1 - p) for p in probabilities],
            "top_factors": ["first interim grade low; past course failures high"] * len(users),
            "signals_available": ["first interim grade"] * len(users),
        }
    )


def add_report(engine, settings, period: Period, day: date, course: str = "math", model: dict | None = None) -> str:
    report = build_report(
        scored(['=HYPERLINK("x")', "s2", "-5", "@s4"], [0.9, 0.4, 0.1, 0.6]),
        course_id=course,
        period=period,
        as_of=day,
        model=ModelInfo(**model) if model else None,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
    )
    return store_report(engine, settings.reports_dir, report)


def test_put_and_list_periods(client):
    body = {"start_date": "2026-09-07", "end_date": "2026-12-07", "cadence_weeks": 3}
    created = client.put("/api/v1/periods/2026-autumn", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["report_dates"] == ["2026-09-28", "2026-10-19", "2026-11-09", "2026-11-30", "2026-12-07"]
    updated = client.put("/api/v1/periods/2026-autumn", json={**body, "cadence_weeks": 4})
    assert updated.status_code == 200 and updated.json()["cadence_weeks"] == 4
    listed = client.get("/api/v1/periods").json()
    assert [p["period_id"] for p in listed] == ["2026-autumn"]
    for bad in ({**body, "cadence_weeks": 5}, {**body, "end_date": "2026-01-01"}, {"start_date": "x"}):
        response = client.put("/api/v1/periods/p", json=bad)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_report_formats_and_csv_neutralisation(client, engine, settings):
    period = Period("p1", date(2026, 9, 7), date(2026, 12, 7), 3)
    upsert_period(engine, period)
    model = {"version": "3", "metrics": {"roc_auc": 0.91}, "gate": "promoted: beats naive", "promoted": True}
    report_id = add_report(engine, settings, period, date(2026, 9, 28), model=model)

    as_json = client.get(f"/api/v1/reports/{report_id}").json()
    assert as_json["report_number"] == 1 and as_json["week_of_term"] == 4
    assert as_json["band_counts"] == {"high": 2, "medium": 1, "low": 1}
    assert as_json["confidence"] == "normal" and as_json["model_version"] == "3"
    assert [r["fail_probability"] for r in as_json["rows"]] == [0.9, 0.6, 0.4, 0.1]
    assert set(as_json["rows"][0]) >= {
        "user_id",
        "risk_band",
        "predicted_final_grade",
        "top_factors",
        "signals_available",
        "data_as_of",
    }

    response = client.get(f"/api/v1/reports/{report_id}?format=csv")
    assert response.headers["content-disposition"] == 'attachment; filename="passcompass_math_p1_2026-09-28.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    ids = [r["user_id"] for r in rows]
    assert ids == ['\'=HYPERLINK("x")', "'@s4", "s2", "-5"]  # a number stays a number
    assert rows[0]["fail_probability"] == "0.9"

    html = client.get(f"/api/v1/reports/{report_id}?format=html")
    assert html.headers["content-type"].startswith("text/html")
    assert "<svg" in html.text and "http" not in html.text.split("<body>")[1].split("Report ")[0]
    assert "Low confidence" not in html.text
    assert '<tr><td>=HYPERLINK(&#34;x&#34;)</td><td class="high">high</td><td class="num">90 %</td>' in html.text
    assert html.text.count("<tr><td>") == 4 and "first interim grade low; past course failures high" in html.text


def test_report_without_promoted_model_says_low_confidence(client, engine, settings):
    period = Period("p1", date(2026, 9, 7), date(2026, 12, 7), 3)
    report_id = add_report(engine, settings, period, date(2026, 9, 28), model={"version": "1", "promoted": False})
    body = client.get(f"/api/v1/reports/{report_id}").json()
    assert body["confidence"] == "low" and body["warning"].startswith("Low confidence")
    assert "Low confidence" in client.get(f"/api/v1/reports/{report_id}?format=html").text


def test_latest_report_404_then_choice_across_periods(client, engine, settings):
    today = date.today()
    current = Period("now", today - timedelta(weeks=4), today + timedelta(weeks=9), 3)
    past = Period("before", today - timedelta(weeks=30), today - timedelta(weeks=17), 3)
    upsert_period(engine, current)
    upsert_period(engine, past)

    missing = client.get("/api/v1/reports/latest", params={"course_id": "math"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "no_report_yet"
    assert missing.json()["next_report_due"] == (current.start_date + timedelta(weeks=6)).isoformat()

    add_report(engine, settings, past, past.end_date)
    add_report(engine, settings, current, current.start_date + timedelta(weeks=3))
    latest = client.get("/api/v1/reports/latest", params={"course_id": "math"}).json()
    assert latest["period_id"] == "now"
    named = client.get("/api/v1/reports/latest", params={"course_id": "math", "period_id": "before"}).json()
    assert named["period_id"] == "before"
    html = client.get("/api/v1/reports/latest", params={"course_id": "math", "format": "html"})
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    listed = client.get("/api/v1/reports", params={"course_id": "math"}).json()
    assert [r["period_id"] for r in listed] == ["now", "before"]
    assert client.get("/api/v1/reports/nope").status_code == 404
    assert client.get("/api/v1/reports/latest", params={"course_id": "math", "format": "xml"}).status_code == 422


def test_request_a_report(client, engine, store, default_period):
    apply_upload(engine, store, receive_upload(engine, store, b"user_id,course_id\ns1,math\n").upload_id)
    assert client.post("/api/v1/reports", params={"course_id": "unknown"}).status_code == 404
    response = client.post("/api/v1/reports", params={"course_id": "math"})
    assert response.status_code == 202 and response.json()["period_id"] == "default"
