"""The instructors' web page: its content on SQLite and PostgreSQL, and the real thing in a headless Chromium."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from browser import browser_page, serve
from conftest import admin_token, bearer, declare_periods
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from passcompass_api.main import create_app
from passcompass_api.web import home
from passcompass_api.web.filters import day
from passcompass_assets.core.db.tables import periods
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.ml.tracking import (
    CARD_HTML,
    CARD_JSON,
    CHAMPION,
    REGISTERED_MODEL,
    client_for,
    experiment_id,
)
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.store import store_report
from passcompass_assets.core.settings import Settings

PROMOTED = {"version": "4", "metrics": {"roc_auc": 0.9}, "gate": "promoted", "promoted": True}


def page_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):  # until create_app mounts the page
        app.include_router(home.router)
    return app


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    """The page's app, signed in as an admin (a bearer token)."""
    with TestClient(page_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(bearer(admin_token(settings.db_url)))
        yield client


def add_report(
    engine: Engine,
    settings: Settings,
    period: Period,
    on: date,
    course: str,
    probabilities: list[float],
    model: dict[str, object] | None = None,
) -> str:
    users = [f"s{i}" for i in range(len(probabilities))]
    scored = pd.DataFrame(
        {
            "user_id": users,
            "fail_probability": probabilities,
            "predicted_final_grade": [20 * (1 - p) for p in probabilities],
            "top_factors": ["first interim grade low"] * len(users),
            "signals_available": ["first interim grade"] * len(users),
        }
    )
    report = build_report(
        scored,
        course_id=course,
        period=period,
        as_of=on,
        model=ModelInfo(**model) if model else None,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
    )
    return store_report(engine, settings.reports_dir, report)


def add_course(engine: Engine, store: LandingStore, course: str, period_id: str | None = None) -> None:
    """A course known from an applied upload, without any report."""
    content = f"user_id,course_id\ns1,{course}\n".encode()
    apply_upload(engine, store, receive_upload(engine, store, content, period_id=period_id).upload_id)


def course_row(html: str, course: str) -> str:
    """The table row of one course, whitespace collapsed."""
    match = re.search(rf'<tr class="course-row" data-course="{re.escape(course)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for course {course!r}"
    return " ".join(match.group(1).split())


def counts(row: str) -> dict[str, int]:
    return {band: int(n) for band, n in re.findall(r'class="count (\w+)" title="[^"]*">(\d+)<', row)}


def test_current_period_courses_with_latest_report(web, engine, settings, store):
    today = date.today()
    now = Period("2026-now", today - timedelta(weeks=7), today + timedelta(weeks=8), 3)
    old = Period("2025-old", today - timedelta(weeks=40), today - timedelta(weeks=27), 3)
    upsert_period(engine, now)
    upsert_period(engine, old)
    add_report(engine, settings, old, old.end_date, "math", [0.9, 0.9, 0.9])
    add_report(engine, settings, now, now.start_date + timedelta(weeks=3), "math", [0.1, 0.1], PROMOTED)
    latest = add_report(engine, settings, now, now.start_date + timedelta(weeks=6), "math", [0.9, 0.8, 0.3, 0.1])
    add_report(engine, settings, now, now.start_date + timedelta(weeks=6), "physics", [0.6, 0.2, 0.2], PROMOTED)
    add_course(engine, store, "bio", now.period_id)

    response = web.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'id="notice"' not in html
    assert "Period 2026-now" in html and '<span class="tag">current</span>' in html
    due = day(now.start_date + timedelta(weeks=9))
    assert f"next report due <strong>{due}</strong>" in html

    math = course_row(html, "math")
    assert day(now.start_date + timedelta(weeks=6)) in math and "report 2 · week 6" in math
    assert counts(math) == {"high": 2, "medium": 1, "low": 1}
    assert '<td class="num" data-label="Students">4</td>' in math
    assert '<span class="low-confidence">Low confidence</span>' in math and "quality gate" in math
    for fmt in ("csv", "json", "html"):
        assert f'href="/api/v1/reports/{latest}?format={fmt}"' in math
    assert 'href="/courses/math?period_id=2026-now"' in math  # the course's students, one click away
    as_csv = web.get(f"/api/v1/reports/{latest}?format=csv")
    assert as_csv.status_code == 200 and next(csv.reader(io.StringIO(as_csv.text)))[:2] == ["user_id", "course_id"]

    physics = course_row(html, "physics")
    assert counts(physics) == {"high": 1, "medium": 0, "low": 2}
    assert "Low confidence" not in physics and "normal" in physics

    bio = course_row(html, "bio")
    assert f"No report yet. The next report is due on {due}." in bio
    assert "href" not in bio

    assert '<a href="?period_id=2025-old">2025-old</a>' in html  # older periods are one click away
    old_page = web.get("/", params={"period_id": "2025-old"}).text
    assert counts(course_row(old_page, "math")) == {"high": 3, "medium": 0, "low": 0}
    assert "the period is over" in old_page and 'id="notice"' not in old_page


def test_no_current_period_shows_most_recent(web, engine, settings, store):
    today = date.today()
    older = Period("older", today - timedelta(weeks=60), today - timedelta(weeks=45), 3)
    recent = Period("recent", today - timedelta(weeks=20), today - timedelta(weeks=5), 3)
    upcoming = Period("upcoming", today + timedelta(weeks=10), today + timedelta(weeks=25), 3)
    for period in (older, recent, upcoming):
        upsert_period(engine, period)
    add_report(engine, settings, recent, recent.end_date, "chem", [0.7, 0.1])
    add_course(engine, store, "bio", "recent")
    add_course(engine, store, "art", "older")

    html = web.get("/").text
    assert (
        f"No period is current today; showing the most recent one, recent, which ended on {day(recent.end_date)}."
        in html
    )
    assert "Period recent" in html and '<span class="tag">current</span>' not in html
    assert counts(course_row(html, "chem")) == {"high": 1, "medium": 0, "low": 1}
    assert "The period is over; none was made." in course_row(html, "bio")
    assert 'data-course="art"' not in html

    chosen = web.get("/", params={"period_id": "older"}).text
    assert 'id="notice"' not in chosen and "No report yet" in course_row(chosen, "art")
    unknown = web.get("/", params={"period_id": "nope"}).text
    assert "There is no period named &#39;nope&#39;. No period is current today" in unknown
    assert 'data-course="chem"' in unknown


def test_only_future_periods_show_the_next_one(web, engine):
    today = date.today()
    upcoming = Period("next", today + timedelta(weeks=2), today + timedelta(weeks=15), 3)
    upsert_period(engine, upcoming)
    html = web.get("/").text
    assert f"showing the next one, next, which starts on {day(upcoming.start_date)}" in html
    assert "No courses in this period yet" in html
    assert f"next report due <strong>{day(upcoming.start_date + timedelta(weeks=3))}</strong>" in html


def test_empty_platform_page_is_self_contained(web):
    response = web.get("/")
    html = response.text
    assert "No courses yet" in html and 'id="upload-form" action="/api/v1/uploads"' in html
    for field in ('name="file"', 'name="course_id"', 'name="period_id"'):
        assert field in html
    assert "http://" not in html and "https://" not in html and "src=" not in html  # no CDN, no web fonts
    nonce = re.search(r"script-src 'nonce-([^']+)'", response.headers["content-security-policy"])
    assert nonce and html.count(f'nonce="{nonce.group(1)}"') == 2  # the one style and the one script
    assert response.headers["cache-control"] == "no-store"
    assert web.get("/").headers["content-security-policy"] != response.headers["content-security-policy"]
    assert "/" not in web.get("/openapi.json").json()["paths"]


def test_titles_legend_and_only_the_readers_terms(engine, settings, store):
    """Courses are named by their titles; the legend's thresholds are the settings' the reports use; an instructor
    is offered only the terms that hold their courses."""
    from passcompass_assets.core.access.tokens import create_token
    from passcompass_assets.core.courses import set_course

    today = date.today()
    now = Period("2026-now", today - timedelta(weeks=7), today + timedelta(weeks=8), 3)
    old = Period("2025-old", today - timedelta(weeks=40), today - timedelta(weeks=27), 3)
    upsert_period(engine, now)
    upsert_period(engine, old)
    add_report(engine, settings, now, now.start_date + timedelta(weeks=6), "math", [0.9, 0.2])
    add_report(engine, settings, old, old.end_date, "physics", [0.6])
    set_course(engine, "math", "2026-now", 20.0, 10.0, "Calculus I")
    tuned = settings.model_copy(update={"risk_high": 0.6, "risk_medium": 0.3})
    with TestClient(page_app(tuned), raise_server_exceptions=False) as client:
        html = client.get("/", headers=bearer(admin_token(settings.db_url))).text
        math = course_row(html, "math")
        assert ">Calculus I</a><small>math</small>" in math
        legend = re.search(r'<details class="legend".*?</details>', html, re.S)[0]
        legend = " ".join(re.sub(r"<[^>]+>", "", legend).split())  # its words
        assert "high at 60 % or more" in legend and "from 30 % to under 60 %" in legend
        assert '<a href="?period_id=2025-old">2025-old</a>' in html

        mine = bearer(create_token(engine, "instructor", ["physics"]).token)
        html = client.get("/", headers=mine).text
        assert 'data-period="2025-old"' in html and "2026-now" not in html
        assert "None of your courses is in a current period; showing the most recent one, 2025-old" in html
        asked = client.get("/", params={"period_id": "2026-now"}, headers=mine).text
        assert 'data-period="2026-now"' not in asked and "among your courses&#39; terms" in asked
        none = client.get("/", headers=bearer(create_token(engine, "viewer", ["chemistry"]).token)).text
        assert "None of the courses granted to you has data yet." in none and "2025-old" not in none


def test_demo_loading_note(web, settings):
    """While the demo loads the page says so instead of "No courses yet"; the marker goes when the load ends, even
    when it fails, and a marker whose process is gone says nothing."""
    import json
    import os
    import time

    from passcompass_assets.core.datasets.loading import MARKER, demo_loading, loading_demo

    home = settings.resolved_home
    assert "No courses yet" in web.get("/").text and not demo_loading(home)
    with pytest.raises(RuntimeError), loading_demo(home):
        html = web.get("/").text
        assert 'id="demo-loading"' in html and "The demo is being loaded" in html and "No courses yet" not in html
        raise RuntimeError("the load failed")
    assert not (home / MARKER).exists() and "No courses yet" in web.get("/").text
    gone = {"pid": 2**22 + os.getpid(), "host": os.uname().nodename, "started": time.time()}  # no such process
    (home / MARKER).write_text(json.dumps(gone))
    assert not demo_loading(home)
    (home / MARKER).write_text(json.dumps(gone | {"pid": os.getpid()}))
    assert demo_loading(home)
    (home / MARKER).unlink()


def register_card(settings: Settings, html: str) -> str:
    """A registered champion version whose run carries a model card (no model: the card route reads only the card)."""
    client = client_for(settings)
    run_id = client.create_run(experiment_id(client, settings)).info.run_id
    client.log_dict(run_id, {"intended_use": "tests"}, CARD_JSON)
    client.log_text(run_id, html, CARD_HTML)
    client.create_registered_model(REGISTERED_MODEL)
    version = client.create_model_version(REGISTERED_MODEL, f"runs:/{run_id}/model", run_id=run_id).version
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, version)
    return str(version)


def test_every_page_answers_under_the_one_policy(web, settings):
    """The sign-in page, the home page, a workspace page and the model card: one Content-Security-Policy, each
    answer with its own nonce, which only the page's own inline style carries."""
    card = "<!doctype html><html><head><style>h1 { color: red; }</style></head><body><h1>Model card</h1></body></html>"
    version = register_card(settings, card)
    pages = {"/signin": 200, "/": 200, "/courses/nowhere": 404, "/api/v1/models/champion/card": 200}
    policies = set()
    for path, status in pages.items():
        response = web.get(path)
        assert response.status_code == status, path
        policy = response.headers["content-security-policy"]
        nonce = re.search(r"style-src 'nonce-([^']+)'", policy)
        assert nonce and f'<style nonce="{nonce.group(1)}">' in response.text and "<style>" not in response.text, path
        assert response.headers["cache-control"] == "no-store", path
        policies.add(policy.replace(nonce.group(1), "NONCE"))
    assert len(policies) == 1 and "script-src 'nonce-NONCE'" in policies.pop()
    assert f"<h1>Model card: version {version}</h1>" in web.get("/api/v1/models/champion/card").text


def test_undated_period_and_escaping(web, engine, settings, store):
    today = date.today()
    # Data of a period without dates: an upload from before periods had to be declared (no upload makes one now).
    declare_periods(engine, "default")
    add_course(engine, store, "bio")  # no period named: the default period
    with engine.begin() as conn:
        conn.execute(periods.delete().where(periods.c.period_id == "default"))
    hostile = "<img src=x onerror=alert(1)>"
    add_report(engine, settings, Period("default", today - timedelta(days=30), today), today, hostile, [0.5])
    html = web.get("/").text
    assert "No period has dates yet; showing default" in html
    assert "None is scheduled while the period has no dates." in course_row(html, "bio")
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


BAD_CSV = b"user_id,AttendanceRate\ns1,90\ns2,200\n"
GOOD_CSV = b"user_id,Name,AttendanceRate\ns1,Ada,90\ns2,Bob,75\n"


def evil_site(target: str) -> FastAPI:
    """Another site whose page posts a form to the platform as soon as it loads (a cross-site request)."""
    from fastapi.responses import HTMLResponse

    app = FastAPI()

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(
            f'<form id="f" method="post" action="{target}/api/v1/final-grades" enctype="multipart/form-data">'
            '<input name="course_id" value="math"></form><script>document.getElementById("f").submit()</script>'
        )

    return app


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_page_in_headless_chromium(settings, engine, tmp_path: Path):
    """Sign in with the one-time link `passcompass run` prints; download a report and upload a bad then a good CSV
    through the form, as an instructor would; a cross-site form post is refused; sign out; sign in with an
    instructor's token through the sign-in form and see that instructor's course only."""
    from passcompass_assets.core.access.tokens import bootstrap_signin, create_token
    from passcompass_assets.core.ingest.uploads import has_uploads

    today = date.today()
    period = Period("2026-now", today - timedelta(weeks=7), today + timedelta(weeks=8), 3)
    upsert_period(engine, period)
    report_day = period.start_date + timedelta(weeks=6)
    add_report(engine, settings, period, report_day, "math", [0.9, 0.8, 0.3, 0.1])
    add_report(engine, settings, period, report_day, "physics", [0.6, 0.2, 0.2], PROMOTED)
    link_token = bootstrap_signin(engine, settings.signin_link_hours)
    instructor = create_token(engine, "instructor", ["physics"]).token

    with serve(page_app(settings)) as base, serve(evil_site(base)) as evil, browser_page() as page:
        from playwright.sync_api import expect

        # A script or style blocked by the page's own policy, or a script error, shows up here; the rejected upload's
        # 422 is logged as a failed resource, and is expected.
        errors: list[str] = []
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
        )
        page.on("pageerror", lambda error: errors.append(str(error)))

        # Not signed in: the page sends the browser to the sign-in form.
        page.goto(base + "/")
        expect(page.locator("#signin-form")).to_be_visible()
        assert "/signin" in page.url

        # The one-time link signs in and leaves the address bar without the token; the session cookie is HTTP-only.
        page.goto(f"{base}/?token={link_token}")
        expect(page.locator("#who")).to_contain_text("admin")
        assert page.url == base + "/" and link_token not in page.url
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "passcompass_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and link_token not in cookie["value"]

        row = page.locator('tr[data-course="math"]')
        expect(row).to_be_visible()
        expect(row.locator(".count.high")).to_have_text("2")
        expect(row.locator(".count.medium")).to_have_text("1")
        expect(row.locator(".count.low")).to_have_text("1")
        expect(row.locator(".low-confidence")).to_be_visible()
        expect(page.locator('tr[data-course="physics"] .low-confidence')).to_have_count(0)

        with page.expect_download() as download_info:
            row.get_by_role("link", name="CSV").click()
        download = download_info.value
        assert download.suggested_filename == f"passcompass_math_2026-now_{report_day.isoformat()}.csv"
        header = next(csv.reader(io.StringIO(Path(download.path()).read_text())))
        assert header[:4] == ["user_id", "course_id", "period_id", "fail_probability"]

        page.fill("#upload-course", "math")
        page.fill("#upload-period", "2026-now")
        page.set_input_files("#upload-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD_CSV}])
        page.get_by_role("button", name="Upload").click()
        failure = page.locator("#upload-result.error")
        expect(failure).to_contain_text("Upload rejected")
        expect(failure.locator("li")).to_have_text(["Row 3: AttendanceRate is outside 0 to 100"])
        page.screenshot(path=tmp_path / "rejected.png", full_page=True)

        page.set_input_files("#upload-file", files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": GOOD_CSV}])
        page.get_by_role("button", name="Upload").click()
        success = page.locator("#upload-result.ok")
        expect(success).to_contain_text("Upload received")
        expect(success.locator('dd[data-field="Rows"]')).to_have_text("2")
        expect(success.locator('dd[data-field="Dropped columns"]')).to_have_text("Name")
        expect(success.locator('dd[data-field="Upload id"]')).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
        page.screenshot(path=tmp_path / "accepted.png", full_page=True)
        assert errors == []

        # Another site's page posting a form to the platform, in the signed-in browser: refused, nothing stored.
        uploads_before = has_uploads(engine)
        with page.expect_response(lambda r: r.url.endswith("/api/v1/final-grades")) as refused:
            page.goto(evil + "/")
        assert refused.value.status in (401, 403)
        assert has_uploads(engine) == uploads_before

        # The link worked once; signing out ends the session.
        page.goto(f"{base}/?token={link_token}")
        expect(page.locator("#signin-error")).to_contain_text("not valid")
        page.goto(base + "/")
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#signin-form")).to_be_visible()
        page.goto(base + "/")
        expect(page.locator("#signin-form")).to_be_visible()

        # An instructor signs in through the form: their course only, no upload form.
        page.fill("#signin-token", instructor)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_contain_text("instructor")
        expect(page.locator('tr[data-course="physics"]')).to_be_visible()
        expect(page.locator('tr[data-course="math"]')).to_have_count(0)
        expect(page.locator("#upload-form")).to_have_count(0)
        page.screenshot(path=tmp_path / "instructor.png", full_page=True)
        assert errors == []
