"""The instructor's workspace on SQLite and PostgreSQL: the course page (sorted, filtered, paged, with trajectories and
actions), the student page (reports and actions in time order), the actions API (who and when from the credential,
CSV and JSON, every bad input a 4xx), access to all of it, and the note staying where it belongs; then the pages in a
real Chromium, by keyboard."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from browser import browser_page, serve
from conftest import admin_token, bearer
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from passcompass_api.main import create_app
from passcompass_assets.core.access.audit import list_access
from passcompass_assets.core.access.tokens import create_token, verify_token
from passcompass_assets.core.actions import KINDS, record_action
from passcompass_assets.core.courses import set_course
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import receive_upload
from passcompass_assets.core.ml.loader import ModelInfo
from passcompass_assets.core.periods import Period, upsert_period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.store import store_report
from passcompass_assets.core.settings import Settings

COURSE, PERIOD = "math", "2026-now"
SHOTS = Path("/tmp/ws_shots")
NOTE = "Spoke after class; family reasons, see the tutor log #N0TE-7731"
MODEL = ModelInfo(version="2", promoted=True, gate="promoted", metrics={"roc_auc": 0.9})


def users(n: int = 120) -> list[str]:
    return [f"s{i:03d}" for i in range(n)]


def latest_probability(i: int) -> float:
    return round(0.949 - i * 0.0075, 4)


def previous_probability(i: int) -> float:
    if i < 10:
        return latest_probability(i)  # high before and now: not new
    if i < 20:
        return 0.3  # medium before, high now: new to high risk (and rising)
    if 60 <= i < 70:
        return latest_probability(i) - 0.1  # medium, rising
    return max(latest_probability(i) - 0.01, 0.0)


def add_report(engine: Engine, settings: Settings, period: Period, on: date, probabilities: dict[str, float]) -> str:
    ids = list(probabilities)
    scored = pd.DataFrame(
        {
            "user_id": ids,
            "fail_probability": [probabilities[u] for u in ids],
            "predicted_final_grade": [round(20 * (1 - probabilities[u]), 1) for u in ids],
            "top_factors": ["absences high (12, course median 4); quiz average low"] * len(ids),
            "background_factors": ["past course failures 2"] * len(ids),
            "signals_available": ["first interim grade"] * len(ids),
        }
    )
    report = build_report(
        scored,
        course_id=COURSE,
        period=period,
        as_of=on,
        model=MODEL,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
        scale=(20.0, 10.0),
        title="Algebra",
    )
    return store_report(engine, settings.reports_dir, report)


def make_term(engine: Engine, settings: Settings) -> tuple[Period, list[str]]:
    """Three reports: week 3 (everyone at 0.2), week 6 (the previous), week 9 (the latest, with s999 new and s119
    gone)."""
    today = date.today()
    period = Period(PERIOD, today - timedelta(weeks=10), today + timedelta(weeks=3), 3)
    upsert_period(engine, period)
    set_course(engine, COURSE, PERIOD, 20.0, 10.0, "Algebra")
    names = users()
    first = {u: 0.2 for u in names}
    previous = {u: previous_probability(i) for i, u in enumerate(names)}
    latest = {u: latest_probability(i) for i, u in enumerate(names[:-1])} | {"s999": 0.97}
    ids = [add_report(engine, settings, period, period.start_date + timedelta(weeks=w), p)
           for w, p in ((3, first), (6, previous), (9, latest))]  # fmt: skip
    return period, ids


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(bearer(admin_token(settings.db_url)))
        yield client


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="student-row" data-user="([^"]+)"', html)


def row_html(html: str, user: str) -> str:
    match = re.search(rf'<tr class="student-row" data-user="{re.escape(user)}".*?</tr>', html, re.S)
    assert match, user
    return " ".join(match.group(0).split())


def test_course_page_sorted_filtered_paged(web, engine, settings):
    period, _ = make_term(engine, settings)
    response = web.get(f"/courses/{COURSE}")  # the current period by default
    assert response.status_code == 200, response.text
    html = response.text
    assert (
        response.headers["cache-control"] == "no-store"
        and "script-src 'nonce-" in response.headers["content-security-policy"]
    )
    listed = rows(html)
    assert len(listed) == 50 and listed[:3] == ["s999", "s000", "s001"]  # highest risk first
    assert "Students 1–50 of 120." in html and "Page 1 of 3" in html
    # s010..s019, s059 (just over the threshold now) and s999 (not in the report before)
    assert 'id="count-new">12 new to high risk</a>' in html
    assert 'id="count-rising">20 with risk rising</a>' in html
    assert "61 high" in html and "Grades 0 to 20, pass at 10." in html

    s010 = row_html(html, "s010")
    assert '<span class="flag new">new</span>' in s010
    assert '<td class="num change" data-label="Since last (pts)">+' in s010
    assert "/ 20" in s010 and "absences high (12, course median 4)" in s010
    assert "Background: past course failures 2" in s010
    assert s010.count("<circle") == 3  # three reports
    assert 'aria-label="fail probability by report week, 0 to 100 %: week 3: 20 %' in s010
    assert s010.count('class="dot high"') == 1 and s010.count('class="dot low"') == 1
    assert row_html(html, "s999").count("<circle") == 1  # only in the latest report
    assert '<span class="flag' not in row_html(html, "s005")

    # The course by its title; a legend with the thresholds the report used; whom to see first, above the table.
    assert '<span id="course-title">Algebra</span>' in html and "Course math · Period 2026-now" in html
    legend = " ".join(re.sub(r"<[^>]+>", "", re.search(r'<details class="legend".*?</details>', html, re.S)[0]).split())
    assert "high at 50 % or more" in legend and "from 25 % to under 50 %" in legend
    assert "under 25 %" in legend and "5 percentage points" in legend and "bottom 0 %, top 100 %" in legend
    first = re.findall(r'<li class="first-student" data-user="([^"]+)"', html)
    assert first == ["s999", "s010", "s011", "s012", "s013", "s014"]  # new to high risk, highest risk first
    assert html.index('id="see-first"') < html.index('id="legend"') < html.index('id="students"')
    assert not re.search(r">\s*(None|nan|n/a)\s*<", html)

    new = web.get(f"/courses/{COURSE}", params={"show": "new"}).text
    assert sorted(rows(new)) == sorted(["s999", "s059", *(f"s{i:03d}" for i in range(10, 20))])
    rising = rows(web.get(f"/courses/{COURSE}", params={"show": "rising"}).text)
    assert sorted(rising) == sorted(f"s{i:03d}" for i in [*range(10, 20), *range(60, 70)])
    medium = web.get(f"/courses/{COURSE}", params={"band": "medium", "show": "rising"}).text
    assert rows(medium) == [f"s{i:03d}" for i in range(60, 70)]
    page3 = web.get(f"/courses/{COURSE}", params={"page": 3}).text
    assert rows(page3)[-1] == "s118" and "Students 101–120 of 120." in page3 and 'id="next-page"' not in page3
    assert 'href="/courses/math?page=2" rel="prev"' in page3.replace(f"period_id={PERIOD}&amp;", "")
    assert rows(web.get(f"/courses/{COURSE}", params={"page": 99}).text)[-1] == "s118"  # past the end: the last page
    assert rows(web.get(f"/courses/{COURSE}", params={"q": "S11"}).text) == [f"s11{i}" for i in range(9)]
    assert "No student matches" in web.get(f"/courses/{COURSE}", params={"q": "zz"}).text

    record_action(engine, course_id=COURSE, period_id=PERIOD, user_id="s010", kind="contacted", actor="token:x")
    record_action(engine, course_id=COURSE, period_id=PERIOD, user_id="s010", kind="meeting_held", actor="token:x")
    s010 = row_html(web.get(f"/courses/{COURSE}").text, "s010")
    assert f"meeting held · {date.today():%a} {date.today().day}" in s010 and "(2 in all)" in s010
    assert "none yet" in row_html(web.get(f"/courses/{COURSE}").text, "s011")

    for bad in ({"band": "severe"}, {"show": "x"}, {"page": "0"}, {"page": "x"}, {"q": "x" * 200}):
        refused = web.get(f"/courses/{COURSE}", params=bad)
        assert refused.status_code == 422 and set(refused.json()) == {"error", "detail", "problems"}, bad
    old = web.get(f"/courses/{COURSE}", params={"period_id": "2025-old"})
    assert old.status_code == 404 and "No such course" in old.text


def test_a_student_without_enough_data_reads_so_in_words(web, engine, settings):
    """A student the report has no probability for reads "not enough data" on both pages: no None, nan or n/a."""
    today = date.today()
    period = Period(PERIOD, today - timedelta(weeks=4), today + timedelta(weeks=9), 3)
    upsert_period(engine, period)
    add_report(engine, settings, period, today, {"s001": 0.8, "s002": float("nan")})
    for path in (f"/courses/{COURSE}", f"/courses/{COURSE}/students/s002"):
        html = web.get(path).text
        assert '<span class="band unknown">not enough data</span>' in html, path
        assert not re.search(r"\b(None|nan|NaN|n/a)\b", re.sub(r"<script.*?</script>", "", html, flags=re.S)), path
        assert "data as of" not in html or re.search(r"data as of \w{3} \d{1,2} \w{3} \d{4}", html), path


def test_student_page_reports_and_actions_in_time_order(web, engine, settings):
    period, ids = make_term(engine, settings)
    when = datetime.combine(period.start_date + timedelta(weeks=7), datetime.min.time(), UTC)
    record_action(engine, course_id=COURSE, period_id=PERIOD, user_id="s010", kind="contacted", actor="token:a",
                  note=NOTE, at=when)  # fmt: skip
    response = web.get(f"/courses/{COURSE}/students/s010", params={"period_id": PERIOD})
    assert response.status_code == 200
    html = response.text
    entries = re.findall(r'<li class="(report|action)" data-(?:report|kind)="([^"]+)"', html)
    assert entries == [("report", ids[0]), ("report", ids[1]), ("action", "contacted"), ("report", ids[2])]
    assert NOTE in html and "Recorded by token:a" in html
    assert "in 3 of the term's 3 reports" in html and html.count("Reasons: absences high") == 3
    # On the course's scale: 20 * (1 - 0.874) now; 20 * (1 - 0.2) in the first report.
    assert "Predicted final grade 2.5 / 20 (pass at 10)" in html and "Predicted final grade 16.0 / 20 ·" in html
    assert 'id="record-form"' in html  # an admin may record

    assert web.get(f"/courses/{COURSE}/students/s999").status_code == 200  # in the latest report only
    unknown = web.get(f"/courses/{COURSE}/students/nobody-7f3a")
    assert unknown.status_code == 404 and "nobody-7f3a" not in unknown.text  # a user id is never echoed


def test_actions_api(settings, engine, store):
    period, _ = make_term(engine, settings)
    instructor = create_token(engine, "instructor", [COURSE]).token
    viewer = create_token(engine, "viewer", [COURSE]).token
    other = create_token(engine, "instructor", ["physics"]).token
    principal = verify_token(engine, instructor)
    assert principal is not None
    body = {"course_id": COURSE, "period_id": PERIOD, "user_id": "s010", "kind": "contacted", "note": "=SUM(A1)"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        before = datetime.now(UTC)
        created = client.post("/api/v1/actions", json=body, headers=bearer(instructor))
        assert created.status_code == 201, created.text
        action = created.json()
        assert action["recorded_by"] == principal.principal.id and action["recorded_by"].startswith("token:")
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(action["recorded_at"]) <= datetime.now(UTC)
        assert action["report_id"] and action["kind"] == "contacted"
        for kind in KINDS[1:]:
            ok = client.post("/api/v1/actions", json={**body, "kind": kind, "note": None}, headers=bearer(instructor))
            assert ok.status_code == 201, kind

        listed = client.get("/api/v1/actions", params={"course_id": COURSE}, headers=bearer(viewer))
        assert listed.status_code == 200 and [a["kind"] for a in listed.json()] == list(KINDS)
        one = client.get("/api/v1/actions", params={"course_id": COURSE, "user_id": "s011"}, headers=bearer(viewer))
        assert one.json() == []
        as_csv = client.get("/api/v1/actions", params={"course_id": COURSE, "format": "csv"}, headers=bearer(viewer))
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert len(table) == len(KINDS) and table[0]["note"] == "'=SUM(A1)"  # inert in a spreadsheet
        assert table[0]["recorded_by"] == action["recorded_by"] and table[0]["user_id"] == "s010"

        refusals = [
            ({**body, "user_id": "stranger-9q"}, instructor, 404, "unknown_student"),
            ({**body, "kind": "phoned"}, instructor, 422, "invalid_request"),
            ({**body, "note": "x" * 2001}, instructor, 422, "invalid_request"),
            ({**body, "note": "a\x00b"}, instructor, 422, "invalid_request"),
            ({**body, "user_id": ""}, instructor, 422, "invalid_request"),
            ({**body, "name": "Ada Lovelace"}, instructor, 422, "invalid_request"),
            ({k: v for k, v in body.items() if k != "period_id"}, instructor, 422, "invalid_request"),
            ({**body, "period_id": "2025-old"}, instructor, 404, "unknown_student"),
            (body, other, 403, "course_not_granted"),
            (body, viewer, 403, "forbidden"),
        ]
        for sent, token, status, error in refusals:
            refused = client.post("/api/v1/actions", json=sent, headers=bearer(token))
            assert refused.status_code == status, (sent, refused.text)
            assert set(refused.json()) == {"error", "detail", "problems"} and refused.json()["error"] == error
            assert "stranger-9q" not in refused.text and "Ada Lovelace" not in refused.text
        for raw in (b"not json", b"[]", b'{"course_id": 5}'):
            broken = client.post(
                "/api/v1/actions", content=raw, headers={**bearer(instructor), "Content-Type": "application/json"}
            )
            assert broken.status_code == 422 and broken.json()["error"] == "invalid_request"
        assert client.post("/api/v1/actions", json=body).status_code == 401
        assert client.get("/api/v1/actions", params={"course_id": COURSE}, headers=bearer(other)).status_code == 403

    logged = list_access(engine, action="actions.download")
    assert len(logged) == 3 and all("s010" not in e.target and "s011" not in e.target for e in logged)


def test_pages_need_a_reader_of_the_course(settings, engine):
    make_term(engine, settings)
    tokens = {
        "uploader": create_token(engine, "uploader").token,
        "other": create_token(engine, "instructor", ["physics"]).token,
        "viewer": create_token(engine, "viewer", [COURSE]).token,
        "instructor": create_token(engine, "instructor", [COURSE]).token,
    }
    paths = [f"/courses/{COURSE}", f"/courses/{COURSE}/students/s001"]
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as client:
        for path in paths:
            anonymous = client.get(path, params={"period_id": PERIOD})
            assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin?next=")
            for who in ("uploader", "other"):
                refused = client.get(path, headers=bearer(tokens[who]))
                assert refused.status_code == 403 and "s001" not in refused.text and "s000" not in refused.text
        viewer = client.get(paths[0], headers=bearer(tokens["viewer"])).text
        assert len(rows(viewer)) == 50 and 'class="act"' not in viewer  # reads, records nothing
        assert 'id="record-form"' not in client.get(paths[1], headers=bearer(tokens["viewer"])).text
        instructor = client.get(paths[0], headers=bearer(tokens["instructor"])).text
        assert instructor.count('<form class="act"') == 50
    pages = list_access(engine, action="page.course") + list_access(engine, action="page.student")
    assert pages and all(e.target.endswith(f"{COURSE}|{PERIOD}") and "s001" not in e.target for e in pages)


def test_the_note_stays_with_staff(web, engine, settings, store, caplog):
    """A note is shown to staff on the student page and in the actions list, and is in no report, evaluation, access
    log entry or log line."""
    period, _ = make_term(engine, settings)
    caplog.set_level(logging.DEBUG)
    body = {"course_id": COURSE, "period_id": PERIOD, "user_id": "s010", "kind": "referred", "note": NOTE}
    assert web.post("/api/v1/actions", json=body).status_code == 201
    assert NOTE in web.get(f"/courses/{COURSE}/students/s010").text
    assert web.get("/api/v1/actions", params={"course_id": COURSE}).json()[0]["note"] == NOTE
    add_report(engine, settings, period, date.today(), {"s010": 0.8, "s011": 0.3})

    from passcompass_assets.core.reports.outcomes import evaluate_period, store_evaluation

    grades = b"user_id,course_id,period_id,final_grade\ns010,math,2026-now,8\ns011,math,2026-now,14\n"
    # The term is still running: its final grades are confirmed on purpose (the course ended early).
    received = receive_upload(engine, store, grades, kind="final_grades", confirm_before_end=True)
    apply_upload(engine, store, received.upload_id)
    paths = store_evaluation(settings.reports_dir, evaluate_period(engine, settings.reports_dir, COURSE, PERIOD))
    stored = [p for p in settings.reports_dir.rglob("*") if p.is_file()]
    assert paths["json"] in stored and all(b"N0TE-7731" not in p.read_bytes() for p in stored)
    assert "How right were the reports? Algebra</h1>" in paths["html"].read_text()  # the course by its title
    assert all("N0TE-7731" not in e.target for e in list_access(engine))
    assert "N0TE-7731" not in caplog.text


def phone(page, shot: str) -> None:
    """The page at a phone's 390 px: nothing scrolls sideways but inside its own box; a screenshot; back to 1280."""
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=SHOTS / shot, full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, f"{page.url} is {width} px wide on a phone"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_workspace_in_headless_chromium(settings, engine):
    """An instructor signs in, finds the new high-risk students by keyboard, records an action from the course page,
    then one with a note from the student page; screenshots of each page are saved and looked at."""
    from passcompass_assets.core.access.tokens import create_signin_link_token

    make_term(engine, settings)
    link = create_signin_link_token(engine, timedelta(hours=1)).token
    instructor = create_token(engine, "instructor", [COURSE]).token
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve(create_app(settings)) as base, browser_page() as page:
        from playwright.sync_api import expect

        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(f"{base}/signin?next=/courses/{COURSE}")
        page.fill("#signin-token", instructor)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_contain_text("instructor")
        expect(page.locator("tr.student-row")).to_have_count(50)
        expect(page.locator("li.first-student")).to_have_count(6)
        page.screenshot(path=SHOTS / "course.png", full_page=False)
        phone(page, "course_390.png")

        # Keyboard only: the see-first students and the legend are on the way to the "New to high risk" filter.
        focused = []
        for _ in range(60):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.textContent.trim().slice(0, 40)"))
            if focused[-1] == "New to high risk":
                break
        assert focused[-1] == "New to high risk", focused
        assert "s999" in focused and "How to read this page" in focused
        page.keyboard.press("Enter")
        expect(page.locator("tr.student-row")).to_have_count(12)
        assert "show=new" in page.url
        page.screenshot(path=SHOTS / "course_new.png", full_page=True)

        # Record "contacted" for the first student, by keyboard: the select, then the button.
        row = page.locator('tr.student-row[data-user="s010"]')
        row.locator("select").focus()
        page.keyboard.press("ArrowDown")  # past "contacted": "tutoring offered"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Record"
        page.keyboard.press("Enter")
        expect(page.locator("#action-status")).to_have_text("Recorded: tutoring offered for s010.")
        expect(row.locator(".summary")).to_have_text("tutoring offered · today")
        page.screenshot(path=SHOTS / "course_recorded.png", full_page=False)

        # The student page, by following the student's link with the keyboard.
        row.locator("a.student-link").focus()
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_contain_text("s010")
        expect(page.locator("li.action")).to_have_count(1)
        page.locator("#record-kind").focus()
        page.keyboard.press("End")  # the last kind: "incorrectly flagged"
        page.keyboard.press("Tab")
        page.keyboard.type("Says the absences were a timetable clash")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("li.action")).to_have_count(2)
        expect(page.locator("li.action").last).to_contain_text("incorrectly flagged")
        expect(page.locator("li.action .note")).to_have_text("Says the absences were a timetable clash")
        page.screenshot(path=SHOTS / "student.png", full_page=True)
        phone(page, "student_390.png")
        assert errors == []

        # A refusal shows in the status line, in plain words, and nothing is recorded.
        page.evaluate("document.getElementById('record-note').removeAttribute('maxlength')")
        page.fill("#record-note", "x" * 2001)
        page.get_by_role("button", name="Record").click()
        expect(page.locator("#action-status.error")).to_contain_text("Not recorded: the request is missing a field")
        expect(page.locator("#action-status.error")).to_contain_text("note is too long (at most 2000 characters)")
        expect(page.locator("li.action")).to_have_count(2)

        # The admin's one-time link: the same page, with the same trajectory chart.
        page.goto(f"{base}/?token={link}")
        page.goto(f"{base}/courses/{COURSE}/students/s999")
        expect(page.locator("svg.spark")).to_have_count(1)

        # The home page, and the HTML report it links to: read in the browser, at both widths.
        page.goto(f"{base}/")
        expect(page.locator("tr.course-row td.course")).to_contain_text("Algebra")
        page.screenshot(path=SHOTS / "home.png", full_page=True)
        phone(page, "home_390.png")
        page.locator("#legend summary").focus()
        page.keyboard.press("Enter")  # the legend opens by keyboard
        expect(page.locator("#legend dl")).to_be_visible()
        phone(page, "legend_390.png")
        page.locator("a.download-html").first.click()
        expect(page.locator("h1")).to_contain_text("Algebra")
        page.screenshot(path=SHOTS / "report.png", full_page=False)
        phone(page, "report_390.png")
        refused = [e for e in errors if "Failed to load resource" in e]
        assert len(refused) == 1 and len(errors) == 1, errors  # the refused 422 only
    actions = json.loads(
        TestClient(create_app(settings))
        .get("/api/v1/actions", params={"course_id": COURSE}, headers=bearer(admin_token(settings.db_url)))
        .text
    )
    assert [a["kind"] for a in actions] == ["tutoring_offered", "incorrectly_flagged"]
    assert all(a["recorded_by"].startswith("token:") for a in actions)


def test_demo_actions_on_the_highest_risk_students(web, engine, settings):
    from passcompass_assets.core.actions import list_actions
    from passcompass_assets.core.reports.store import get_report
    from passcompass_assets.operations import record_demo_actions

    _, ids = make_term(engine, settings)
    latest = get_report(engine, ids[-1])
    assert latest is not None and record_demo_actions(settings, latest) == 7
    actions = list_actions(engine, COURSE, PERIOD)
    assert {a.user_id for a in actions} == {"s999", "s000", "s001", "s002"}  # the four highest risks
    assert all(a.actor == "demo" and a.recorded_at < datetime.now(UTC) for a in actions)
    assert [a.kind for a in actions if a.user_id == "s999"] == ["contacted", "tutoring_offered", "meeting_held"]
    html = web.get(f"/courses/{COURSE}").text
    assert "meeting held" in row_html(html, "s999") and "(3 in all)" in row_html(html, "s999")
    assert "flag not useful" in row_html(html, "s002")


def test_hostile_page_inputs_are_answered_without_a_server_error(web, engine, settings):
    make_term(engine, settings)
    paths = [
        "/courses/%E2%80%AE%3Cscript%3E",
        "/courses/math/students/%3Cimg%20src%3Dx%3E",
        "/courses/math/students/s001%27%20OR%201%3D1",
        "/courses/" + "x" * 129,
        "/courses/math?q=%5C%25_%2A%5B",
        "/courses/math?period_id=%F0%9F%98%80&page=2",
        "/courses/math?q=%00",
        "/courses/math/students/s001?period_id=" + "p" * 200,
    ]
    for path in paths:
        response = web.get(path)
        assert response.status_code < 500, (path, response.status_code)
        assert "<script>" not in response.text and "<img src=x>" not in response.text, path
