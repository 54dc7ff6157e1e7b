"""Periods, report files and downloads through the API, on SQLite and PostgreSQL (reports built from scores)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from html import unescape

import pandas as pd

from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
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
    assert as_json["report_number"] == 1 and as_json["week_of_term"] == 3
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
    assert html.headers["content-disposition"].startswith("inline")  # a page to read in the browser
    saved = client.get(f"/api/v1/reports/{report_id}", params={"format": "html", "download": 1})
    assert saved.headers["content-disposition"] == 'attachment; filename="passcompass_math_p1_2026-09-28.html"'
    assert "<svg" in html.text and "http" not in html.text.split("<body>")[1].split("Report ")[0]
    assert "Low confidence" not in html.text
    assert '<th scope="row" data-label="Student">=HYPERLINK(&#34;x&#34;)</th>' in html.text
    assert (
        '<td data-label="Risk" class="band high">high</td><td data-label="Fail probability" class="num">90 %</td>'
        in html.text
    )
    assert html.text.count('<th scope="row"') == 4 and "first interim grade low" in html.text
    # Leads with the students and a summary; the model's figures are an appendix with their names.
    text = " ".join(unescape(html.text).split())
    assert "4 students, 2 at high risk, the term's first report." in text
    assert text.index('id="summary"') < text.index("Students, highest risk first") < text.index('id="model-quality"')
    assert "Mon 28 Sep 2026, week 3" in text and "2026-09-28" not in text.split("<body>")[1]
    assert "None" not in text and "nan" not in text.lower().replace("financ", "")


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
    assert html.status_code == 200 and html.headers["content-disposition"].startswith("inline")
    assert "<h1>math: who may fail</h1>" in html.text
    listed = client.get("/api/v1/reports", params={"course_id": "math"}).json()
    assert [r["period_id"] for r in listed] == ["now", "before"]
    assert client.get("/api/v1/reports/nope").status_code == 404
    assert client.get("/api/v1/reports/latest", params={"course_id": "math", "format": "xml"}).status_code == 422


def test_request_a_report(client, engine, store, default_period):
    apply_upload(engine, store, receive_upload(engine, store, b"user_id,course_id\ns1,math\n").upload_id)
    assert client.post("/api/v1/reports", params={"course_id": "unknown"}).status_code == 404
    response = client.post("/api/v1/reports", params={"course_id": "math"})
    assert response.status_code == 202 and response.json()["period_id"] == "default"


def test_one_report_per_course_and_date_numbered_by_the_terms_report_dates(client, engine, settings):
    period = Period("p1", date(2026, 9, 7), date(2026, 12, 7), 3)
    upsert_period(engine, period)
    first = add_report(engine, settings, period, date(2026, 9, 28))
    on_demand = add_report(engine, settings, period, date(2026, 10, 14))  # between two scheduled dates
    again = add_report(engine, settings, period, date(2026, 10, 14))  # asked again for the same date
    assert again == on_demand  # replaced in place: the same id and address
    listed = client.get("/api/v1/reports", params={"course_id": "math"}).json()
    assert [(r["report_date"], r["report_number"], r["week_of_term"]) for r in listed] == [
        ("2026-10-14", 2, 6),
        ("2026-09-28", 1, 3),
    ]
    # A report for an earlier date made later (a backfill) takes its place; the later ones move up.
    add_report(engine, settings, period, date(2026, 9, 21))
    numbers = {
        r["report_id"]: r["report_number"] for r in client.get("/api/v1/reports", params={"course_id": "math"}).json()
    }
    assert numbers[first] == 2 and numbers[on_demand] == 3 and len(numbers) == 3
    body = client.get(f"/api/v1/reports/{on_demand}").json()
    assert body["report_number"] == 2  # the file keeps the number it was made with


def test_downloads_of_a_course_outside_latin_1(client, engine, settings):
    """A course id in Chinese (Greek, Cyrillic: ordinary course codes) downloads in every format with an ASCII
    fallback name and the exact one (RFC 6266 ``filename*``); each download is logged once, and only when served."""
    from urllib.parse import unquote

    from passcompass_assets.core.access.audit import list_access
    from passcompass_assets.core.reports.outcomes import Evaluation, LeadTime, store_evaluation

    course, period = (
        "课程-101",
        Period("Ωρα-1", date.today() - timedelta(weeks=4), date.today() + timedelta(weeks=8), 3),
    )
    upsert_period(engine, period)
    report_id = add_report(engine, settings, period, date.today(), course=course)
    store_evaluation(
        settings.reports_dir, Evaluation(course, period.period_id, "2026-12-01", 2, 0.5, [], LeadTime(0, 0, None, None))
    )
    downloads = [(f"/api/v1/reports/{report_id}", {"format": fmt}) for fmt in ("json", "csv", "html")]
    downloads += [("/api/v1/reports/latest", {"course_id": course, "format": "csv"})]
    downloads += [("/api/v1/evaluations", {"course_id": course, "period_id": period.period_id, "format": fmt})
                  for fmt in ("json", "html")]  # fmt: skip
    for path, params in downloads:
        answer = client.get(path, params=params)
        assert answer.status_code == 200, (path, params, answer.text[:200])
        disposition = answer.headers["content-disposition"]
        fallback = disposition.split('filename="')[1].split('"')[0]
        exact = unquote(disposition.split("filename*=UTF-8''")[1])
        assert fallback.isascii() and "-101" in fallback and fallback.endswith(f".{params['format']}")
        assert course in exact and period.period_id in exact and exact.endswith(f".{params['format']}")
    logged = list_access(engine, limit=100)
    assert len(logged) == len(downloads) and {e.course_id for e in logged} == {course}
    actions = client.get("/api/v1/actions", params={"course_id": course, "format": "csv"})
    assert (
        actions.status_code == 200
        and "filename*=UTF-8''passcompass_actions_%E8%AF%BE" in actions.headers["content-disposition"]
    )
