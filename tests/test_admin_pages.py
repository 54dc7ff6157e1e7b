"""The setup pages of issue 22 (terms, courses, tokens, uploads with a preview) on SQLite and PostgreSQL, the
client's Kaggle export previewed through the page, and one keyboard walk through the four pages in Chromium.

One app and one database per module and database (the tests name their own terms and courses), to stay quick.
"""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from browser import browser_page, serve
from conftest import _postgres_server_url, bearer
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from passcompass_api.main import create_app
from passcompass_assets.core.access.tokens import create_token
from passcompass_assets.core.courses import get_course
from passcompass_assets.core.db.engine import get_engine, with_driver
from passcompass_assets.core.db.migrate import upgrade
from passcompass_assets.core.db.tables import courses, final_grades, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.periods import Period, find_period, upsert_period
from passcompass_assets.core.settings import Settings

KAGGLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaggle" / "student_performance_1000.csv"
SHOTS = Path("/tmp/admin_shots")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r"pc_[0-9a-f]{12}_[A-Za-z0-9_-]+")
TODAY = date.today()
RAW_KEYS = ("period_id", "course_id", "grade_max", "pass_mark", "start_date", "end_date", "confirm_before_end", "/api/")


@dataclass
class Site:
    settings: Settings
    engine: Engine
    client: TestClient  # anonymous unless a test sends credentials

    def signed_in(self, role: str, courses: tuple[str, ...] = ()) -> Session:
        """A browser's session for a new token of ``role``: cookie and the page's CSRF token."""
        token = create_token(self.engine, role, courses, label="tests").token  # type: ignore[arg-type]
        browser = TestClient(self.client.app, raise_server_exceptions=False)
        answer = browser.post("/signin", data={"token": token, "next": "/"}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        page = browser.get("/")
        match = CSRF.search(page.text)
        assert match, page.text
        return Session(browser, match.group(1))

    def upload_and_apply(self, content: bytes, **form: str) -> str:
        admin = bearer(create_token(self.engine, "admin").token)
        files = {"file": ("data.csv", content, "text/csv")}
        answer = self.client.post("/api/v1/uploads", files=files, data=form, headers=admin)
        assert answer.status_code == 202, answer.text
        upload_id = answer.json()["upload_id"]
        apply_upload(self.engine, LandingStore(self.settings.landing_dir), upload_id)
        return upload_id


@dataclass
class Session:
    browser: TestClient
    csrf: str

    def get(self, path: str):
        return self.browser.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, str], files: dict | None = None, csrf: bool = True):
        sent = {**data, "csrf_token": self.csrf} if csrf else data
        return self.browser.post(path, data=sent, files=files, follow_redirects=False)


def _database(kind: str, home: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{home / 'passcompass.db'}"
        return
    server = make_url(with_driver(_postgres_server_url()))
    name = f"pc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp(f"admin-{request.param}")
    for url in _database(request.param, home):
        upgrade(url)
        settings = Settings(home=home, database_url=url, default_period_id="admin-default", upload_rate_per_minute=1000)
        settings.ensure_dirs()
        engine = get_engine(settings.db_url)
        upsert_period(engine, Period("admin-default", TODAY - timedelta(days=200), TODAY - timedelta(days=20), 3))
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield Site(settings, engine, client)


@pytest.fixture(scope="module")
def admin(site: Site) -> Session:
    return site.signed_in("admin")


def words_of(page: str) -> str:
    """The page's visible text (tags and attributes out), to check what a person reads."""
    text = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def problems_on(html: str) -> str:
    match = re.search(r'<section class="problems".*?</section>', html, flags=re.S)
    return words_of(match.group(0)) if match else ""


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


# ---- who sees what ------------------------------------------------------------------------------------------------

PAGES = ("/admin/periods", "/admin/courses", "/admin/tokens", "/admin/uploads")


def test_who_sees_the_setup_pages(site: Site, admin: Session) -> None:
    home = admin.get("/")
    assert [f"/admin/{p}" for p in re.findall(r'href="/admin/(\w+)"', home.text)] == list(PAGES)
    for path in PAGES:
        assert admin.get(path).status_code == 200, path

    uploader = site.signed_in("uploader")
    assert re.findall(r'href="/admin/(\w+)"', uploader.get("/").text) == ["uploads"]
    assert uploader.get("/admin/uploads").status_code == 200
    for path in PAGES[:3]:
        refused = uploader.get(path)
        assert refused.status_code == 403
        assert "This page is for PassCompass administrators." in words_of(refused.text)
        assert uploader.post(path, {"action": "save"}).status_code == 403

    for role in ("instructor", "viewer"):
        reader = site.signed_in(role, ("*",))
        assert "/admin/" not in reader.get("/").text
        for path in PAGES:
            refused = reader.get(path)
            assert refused.status_code == 403 and "Not allowed" in refused.text, (role, path)
        assert reader.post("/admin/uploads/preview", {"kind": "students"}).status_code == 403

    for path in PAGES:
        away = site.client.get(path, follow_redirects=False)
        assert away.status_code == 303 and away.headers["location"] == f"/signin?next=%2F{path[1:].replace('/', '%2F')}"
    for path in (*PAGES[:3], "/admin/uploads/preview", "/admin/uploads/commit"):
        anonymous = site.client.post(path, data={"action": "save"}, follow_redirects=False)
        assert anonymous.status_code == 401, path
        assert "Sign in first" in anonymous.text


def test_forms_need_the_pages_csrf_token(site: Site, admin: Session) -> None:
    declare = {"action": "save", "period_id": "csrf-term", "start_date": "2026-01-05", "end_date": "2026-03-30"}
    for sent in ({**declare}, {**declare, "csrf_token": "forged"}):
        refused = admin.browser.post("/admin/periods", data=sent, follow_redirects=False)
        assert refused.status_code == 403
        assert "reload it and try again" in refused.text
    assert find_period(site.engine, "csrf-term") is None
    # A bearer token is not sent by a browser on its own: no CSRF token needed.
    token = bearer(create_token(site.engine, "admin").token)
    assert site.client.post("/admin/periods", data=declare, headers=token).status_code == 200
    assert find_period(site.engine, "csrf-term") is not None


# ---- terms --------------------------------------------------------------------------------------------------------


def test_declare_edit_and_delete_a_term(site: Site, admin: Session) -> None:
    declared = admin.post(
        "/admin/periods",
        {"action": "save", "period_id": "t-2027-spring", "start_date": "2027-01-11", "end_date": "2027-05-28"},
    )
    assert declared.status_code == 200
    assert "Term t-2027-spring declared" in words_of(declared.text)
    assert find_period(site.engine, "t-2027-spring") == Period("t-2027-spring", date(2027, 1, 11), date(2027, 5, 28))

    edited = admin.post(
        "/admin/periods",
        {
            "action": "save",
            "period_id": "t-2027-spring",
            "start_date": "2027-01-18",
            "end_date": "2027-05-28",
            "cadence_weeks": "2",
        },
    )
    assert "Term t-2027-spring saved." in words_of(edited.text)
    assert find_period(site.engine, "t-2027-spring") == Period("t-2027-spring", date(2027, 1, 18), date(2027, 5, 28), 2)

    # Bad input: the page again, every problem in plain words, the draft kept, nothing stored.
    bad = admin.post(
        "/admin/periods",
        {
            "action": "save",
            "period_id": "t-bad",
            "start_date": "2027-05-01",
            "end_date": "2027-02-01",
            "cadence_weeks": "9",
        },
    )
    assert bad.status_code == 422
    said = problems_on(bad.text)
    assert "The end date must be after the start date." in said
    assert "Reports come every 2, 3 or 4 weeks." in said
    assert not any(key in said for key in RAW_KEYS), said
    assert 'value="t-bad"' in bad.text and find_period(site.engine, "t-bad") is None
    garbled = admin.post("/admin/periods", {"action": "save", "period_id": "a/b", "start_date": "soon", "end_date": ""})
    assert garbled.status_code == 422
    assert "The start date is missing or not a date (YYYY-MM-DD)." in problems_on(garbled.text)
    assert "contains a slash" in problems_on(garbled.text) and "soon" not in problems_on(garbled.text)

    # A term with data says it cannot be deleted, and why; an empty one goes.
    admin.post(
        "/admin/courses", {"course_id": "t-course", "period_id": "t-2027-spring", "grade_max": "20", "pass_mark": "10"}
    )
    page = admin.get("/admin/periods").text
    held = re.search(r'data-period="t-2027-spring".*?</li>', page, flags=re.S)
    assert held and "Cannot be deleted: it holds data (1 course)" in words_of(held.group(0))
    refused = admin.post("/admin/periods", {"action": "delete", "period_id": "t-2027-spring"})
    assert refused.status_code == 409
    assert "holds data (1 course), so it cannot be deleted" in problems_on(refused.text)
    assert find_period(site.engine, "t-2027-spring") is not None
    admin.post(
        "/admin/periods",
        {"action": "save", "period_id": "t-empty", "start_date": "2027-06-01", "end_date": "2027-08-01"},
    )
    deleted = admin.post("/admin/periods", {"action": "delete", "period_id": "t-empty"})
    assert deleted.status_code == 200 and "Term t-empty deleted." in deleted.text
    assert find_period(site.engine, "t-empty") is None
    assert admin.post("/admin/periods", {"action": "delete", "period_id": "t-empty"}).status_code == 404


# ---- courses ------------------------------------------------------------------------------------------------------


def test_courses_confirm_and_edit(site: Site, admin: Session) -> None:
    upsert_period(site.engine, Period("c-term", TODAY - timedelta(days=30), TODAY + timedelta(days=60), 3))
    site.upload_and_apply(b"user_id,absences\nu1,2\nu2,5\n", course_id="c-seen", period_id="c-term")
    page = admin.get("/admin/courses").text
    unconfirmed = re.search(r'<section class="card" id="unconfirmed">.*?</section>', page, flags=re.S)
    assert unconfirmed and 'data-course="c-seen"' in unconfirmed.group(0)
    assert "Confirm c-seen" in unconfirmed.group(0)

    confirmed = admin.post(
        "/admin/courses",
        {
            "course_id": "c-seen",
            "period_id": "c-term",
            "title": "Cell biology",
            "grade_max": "100",
            "pass_mark": "49,5",
        },
    )
    assert confirmed.status_code == 200
    assert "Course c-seen (c-term) saved and confirmed: grades out of 100, pass at 49.5." in words_of(confirmed.text)
    course = get_course(site.engine, "c-seen", "c-term")
    assert course and (course.confirmed, course.title, course.grade_max, course.pass_mark) == (
        True,
        "Cell biology",
        100,
        49.5,
    )
    assert 'data-course="c-seen"' not in re.search(r'id="unconfirmed">.*?</section>', confirmed.text, flags=re.S).group(
        0
    )

    bad = admin.post(
        "/admin/courses", {"course_id": "c-seen", "period_id": "c-trem", "grade_max": "abc", "pass_mark": "120"}
    )
    assert bad.status_code == 422
    said = problems_on(bad.text)
    assert "Term c-trem is not declared: declare it on the Terms page first. Did you mean c-term" in said
    assert "The top of the grade scale must be a number above 0" in said
    assert not any(key in said for key in RAW_KEYS) and "abc" not in said
    long_title = {
        "course_id": "c-seen",
        "period_id": "c-term",
        "grade_max": "20",
        "pass_mark": "10",
        "title": "T" * 257,
    }
    assert "The title is at most 256 characters." in problems_on(admin.post("/admin/courses", long_title).text)
    over = admin.post(
        "/admin/courses", {"course_id": "c-seen", "period_id": "c-term", "grade_max": "20", "pass_mark": "30"}
    )
    assert "The pass mark must be at most the top of the grade scale." in problems_on(over.text)
    assert get_course(site.engine, "c-seen", "c-term").grade_max == 100  # type: ignore[union-attr]

    new = admin.post(
        "/admin/courses", {"course_id": "c-new", "period_id": "c-term", "grade_max": "20", "pass_mark": "10"}
    )
    assert "Course c-new (c-term) set up" in words_of(new.text)


# ---- tokens -------------------------------------------------------------------------------------------------------


def test_tokens_created_shown_once_and_revoked(site: Site, admin: Session) -> None:
    made = admin.post(
        "/admin/tokens",
        {"action": "create", "role": "instructor", "courses": "bio-1, bio-2", "label": "Dr Ada", "expires_days": "30"},
    )
    assert made.status_code == 200
    assert "Copy it now: it is shown only this once." in words_of(made.text)
    secret = SECRET.search(made.text)
    assert secret
    token_id = secret.group(0).split("_")[1]
    me = site.client.get("/api/v1/me", headers=bearer(secret.group(0))).json()
    assert (me["roles"], me["courses"]) == (["instructor"], ["bio-1", "bio-2"])

    listed = admin.get("/admin/tokens").text
    assert listed.count('<span class="tag">yours</span>') == 1  # the admin's own token, before revoking it by mistake
    assert secret.group(0) not in listed and f'data-token="{token_id}"' in listed
    row = re.search(rf'data-token="{token_id}".*?</tr>', listed, flags=re.S)
    assert row and "bio-1, bio-2" in row.group(0) and "Dr Ada" in row.group(0)
    assert "not yet" in words_of(row.group(0))  # never used; a sign-in is "last seen"
    signed = TestClient(site.client.app).post("/signin", data={"token": secret.group(0)}, follow_redirects=False)
    assert signed.status_code == 303
    row = re.search(rf'data-token="{token_id}".*?</tr>', admin.get("/admin/tokens").text, flags=re.S)
    assert row and "not yet" not in row.group(0)

    for bad, said in (
        ({"role": "viewer"}, "An viewer token needs the courses it may read"),
        ({"role": "uploader", "courses": "bio-1"}, "covers every course: leave the courses empty"),
        ({"role": "root"}, "Choose a role."),
        ({"role": "admin", "expires_days": "-3"}, "a whole number from 1 to 3650"),
        ({"role": "admin", "label": "L" * 129}, "The label is at most 128 characters."),
    ):
        refused = admin.post("/admin/tokens", {"action": "create", **bad})
        assert refused.status_code == 422 and said in problems_on(refused.text), bad
        assert not SECRET.search(refused.text)

    revoked = admin.post("/admin/tokens", {"action": "revoke", "token_id": token_id})
    assert f"Token {token_id} revoked" in words_of(revoked.text)
    assert site.client.get("/api/v1/me", headers=bearer(secret.group(0))).status_code == 401
    assert admin.post("/admin/tokens", {"action": "revoke", "token_id": token_id}).status_code == 404


# ---- uploads ------------------------------------------------------------------------------------------------------


def preview(session: Session, content: bytes, **form: str):
    return session.post("/admin/uploads/preview", form, files={"file": ("export.csv", content, "text/csv")})


def commit_form(html: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="[^"]*/commit".*?</form>', html, flags=re.S)
    assert form, html
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))


def test_preview_stores_nothing_then_commit_stores(site: Site) -> None:
    upsert_period(site.engine, Period("u-term", TODAY - timedelta(days=30), TODAY + timedelta(days=60), 3))
    uploader = site.signed_in("uploader")
    content = (
        b"user_id,course_id,absences,Email\nu-secret-1,u-course,3,someone@example.org\nu2,u-course,5,x@example.org\n"
    )
    before = count(site.engine, uploads)
    answer = preview(uploader, content, kind="students", period_id="u-term")
    assert answer.status_code == 200, problems_on(answer.text)
    text = words_of(answer.text)
    assert "Preview: nothing is stored yet" in text and "2 rows of student data" in text
    row = re.search(r'<tr data-course="u-course">.*?</tr>', answer.text, flags=re.S)
    assert row and [int(n) for n in re.findall(r'class="num"[^>]*>(\d+)<', row.group(0))] == [2, 0, 0]
    assert "Columns dropped Email" in text
    assert count(site.engine, uploads) == before
    held = list(site.settings.held_dir.glob("*.held"))
    assert len(held) == 1 and b"u-secret-1" not in held[0].read_bytes() and b"example.org" not in held[0].read_bytes()

    form = commit_form(answer.text)
    stored = uploader.post("/admin/uploads/commit", form)
    assert stored.status_code == 200
    assert "Upload stored" in words_of(stored.text)
    assert count(site.engine, uploads) == before + 1
    assert list(site.settings.held_dir.glob("*.held")) == []
    history = re.search(r'id="history">.*?</section>', stored.text, flags=re.S)
    assert history and "waiting to be processed" in history.group(0) and "u-course" in history.group(0)
    assert "someone@example.org" not in stored.text and "u-secret-1" not in stored.text

    again = uploader.post("/admin/uploads/commit", form)
    assert again.status_code == 410 and "no longer held" in problems_on(again.text)
    assert uploader.post("/admin/uploads/commit", {**form, "key": "x" * 44}).status_code == 410
    assert count(site.engine, uploads) == before + 1

    # A file with problems: every one listed in plain words, nothing held, nothing stored.
    broken = b"user_id,course_id,absences\nu1,u-course,-4\nu2,u-course,-1\nu1,u-course,2\n"
    refused = preview(uploader, broken, kind="students", period_id="u-trem")
    assert refused.status_code == 422
    said = problems_on(refused.text)
    assert "did you mean u-term" in said and "the Terms page" in said
    assert re.search(r"Rows 2-3 \(2 values\)", said), said
    assert "/api/" not in said and "period_id" not in said
    assert list(site.settings.held_dir.glob("*.held")) == []
    empty = uploader.post("/admin/uploads/preview", {"kind": "students"})
    assert empty.status_code == 422 and "Choose a CSV file" in problems_on(empty.text)
    assert count(site.engine, uploads) == before + 1


def test_final_grades_before_the_end_need_the_box(site: Site, admin: Session) -> None:
    upsert_period(site.engine, Period("g-term", TODAY - timedelta(days=30), TODAY + timedelta(days=60), 3))
    grades = b"user_id,course_id,final_grade\ng1,g-course,14\ng2,g-course,8\n"
    refused = preview(admin, grades, kind="final_grades", period_id="g-term")
    assert refused.status_code == 422
    said = problems_on(refused.text)
    assert "final grades before its end need the box “These final grades come before the term's end”" in said
    assert "confirm_before_end" not in said
    page = admin.get("/admin/uploads").text
    assert 'name="confirm_before_end" value="yes"' in page and "for a course that ended early" in words_of(page)

    confirmed = preview(admin, grades, kind="final_grades", period_id="g-term", confirm_before_end="yes")
    assert confirmed.status_code == 200, problems_on(confirmed.text)
    form = commit_form(confirmed.text)
    assert form["confirm_before_end"] == "yes" and form["kind"] == "final_grades"
    before = count(site.engine, final_grades)
    stored = admin.post("/admin/uploads/commit", form)
    assert "Upload stored" in words_of(stored.text), problems_on(stored.text)
    upload_id = re.search(r"Upload ([0-9a-f-]{36})\.", stored.text).group(1)  # type: ignore[union-attr]
    apply_upload(site.engine, LandingStore(site.settings.landing_dir), upload_id)
    assert count(site.engine, final_grades) == before + 2

    # Student data never stores a final-grade column; the page says where final grades go.
    labelled = preview(admin, b"user_id,course_id,absences,final_grade\ng1,g-course,1,12\n", period_id="g-term")
    assert "final grades are written only with a final-grades upload" in words_of(labelled.text)


def test_the_clients_kaggle_export_previewed_on_the_page(site: Site, admin: Session) -> None:
    if not KAGGLE.exists():
        pytest.skip(f"the client's Kaggle export is not at {KAGGLE} (see ../shared/data/README.md)")
    export = KAGGLE.read_bytes()
    frame = pd.read_csv(io.BytesIO(export), dtype=str)
    upsert_period(site.engine, Period("k-2026-autumn", TODAY - timedelta(weeks=12), TODAY + timedelta(weeks=2), 3))
    answer = preview(admin, export, kind="final_grades", course_id="k-bio-101", period_id="k-2026-autum")
    assert answer.status_code == 422
    said = problems_on(answer.text)
    repeated = int(frame["StudentID"].duplicated(keep=False).sum())
    assert "did you mean k-2026-autumn?" in said
    scale = f"Rows 2-{len(frame) + 1} ({len(frame)} values): FinalGrade above 20, the scale of the new course k-bio-101"
    assert f"{scale}; set the course's scale on the Courses page" in said, said
    assert f"({repeated} values), column StudentID: The same StudentID more than once" in said
    assert not any(name in answer.text for name in frame["Name"].head(50))
    assert "/api/" not in said

    fixed = frame.drop_duplicates("StudentID").to_csv(index=False).encode()
    admin.post(
        "/admin/courses",
        {"course_id": "k-bio-101", "period_id": "k-2026-autumn", "grade_max": "100", "pass_mark": "50"},
    )
    students = preview(admin, fixed, kind="students", course_id="k-bio-101", period_id="k-2026-autumn")
    assert students.status_code == 200, problems_on(students.text)
    assert "Name" in words_of(students.text) and "FinalGrade holds final grades" in words_of(students.text)
    stored = admin.post("/admin/uploads/commit", commit_form(students.text))
    assert "Upload stored" in words_of(stored.text)
    assert not any(name in stored.text for name in frame["Name"].head(50))
    with site.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(courses)).scalar_one() >= 1
    assert count(site.engine, student_records) >= 0


# ---- one keyboard walk in Chromium --------------------------------------------------------------------------------


def test_keyboard_walk_through_the_setup_pages(site: Site) -> None:
    if site.engine.dialect.name != "sqlite":
        pytest.skip("one browser walk, on SQLite: the pages are the same on PostgreSQL (tested above)")
    token = create_token(site.engine, "admin", label="walk").token
    SHOTS.mkdir(parents=True, exist_ok=True)
    csv_file = SHOTS / "walk.csv"
    csv_file.write_text("user_id,course_id,absences,Name\nw1,walk-101,2,Ann\nw2,walk-101,7,Bo\n")
    with serve(site.client.app) as base, browser_page() as page:  # type: ignore[arg-type]
        from playwright.sync_api import expect

        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))

        def tab_to(text: str, limit: int = 60) -> None:
            seen = []
            for _ in range(limit):
                page.keyboard.press("Tab")
                seen.append(page.evaluate("(document.activeElement.textContent || '').trim().slice(0, 60)"))
                if text in (seen[-1], "#" + page.evaluate("document.activeElement.id")):
                    return
            raise AssertionError(f"{text!r} not reached by Tab: {seen}")

        def fits(name: str) -> None:
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert wide <= 0, f"{name} scrolls sideways at {width} px by {wide} px"
                page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})

        page.goto(f"{base}/signin")
        page.fill("#signin-token", token)
        page.keyboard.press("Enter")
        expect(page.locator("#setup-links")).to_be_visible()
        page.screenshot(path=SHOTS / "home-1280.png", full_page=True)  # the home page's own fit: test_web_page

        # Terms: from the home page's link, declare the current term by keyboard.
        tab_to("Terms")
        page.keyboard.press("Enter")
        expect(page.locator("h2").first).to_have_text("Declare a term")
        page.locator("#new-period").focus()
        page.keyboard.type("walk-term")
        page.keyboard.press("Tab")
        start, end = TODAY - timedelta(weeks=4), TODAY + timedelta(weeks=8)
        page.keyboard.type(start.strftime("%m%d%Y"))  # a date field's parts are Tab stops of their own
        tab_to("#new-end")
        page.keyboard.type(end.strftime("%m%d%Y"))
        tab_to("#declare-button")
        assert page.evaluate("document.getElementById('new-start').value") == start.isoformat()
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text("Term walk-term declared")
        fits("periods")

        # Uploads: choose the file, preview, then store it, by keyboard.
        tab_to("Uploads")
        page.keyboard.press("Enter")
        page.locator("#upload-file").set_input_files(str(csv_file))  # the file dialog is the system's, not the page's
        page.select_option("#upload-period", "walk-term")
        page.locator("#preview-button").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#preview")).to_contain_text("2 rows of student data")
        fits("uploads-preview")
        page.locator("#commit-button").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#stored")).to_contain_text("Upload stored")
        fits("uploads-stored")
        upload_id = page.locator("tr.upload").first.get_attribute("data-upload")
        apply_upload(site.engine, LandingStore(site.settings.landing_dir), str(upload_id))

        # Courses: the uploaded course waits for confirmation; confirm it with a title, by keyboard.
        page.goto(f"{base}/admin/courses")
        item = page.locator('li.course.unconfirmed[data-course="walk-101"]')
        item.locator('input[name="title"]').focus()
        page.keyboard.type("Walking 101")
        tab_to("Confirm walk-101")
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text("Course walk-101 (walk-term) saved and confirmed")
        fits("courses")

        # Tokens: create an instructor's token for the course, shown once; then revoke it.
        tab_to("Access tokens")
        page.keyboard.press("Enter")
        page.locator("#token-role").focus()
        page.keyboard.press("End")  # the last role: viewer
        page.keyboard.press("Tab")
        page.keyboard.type("walk-101")
        tab_to("Create the token")
        page.keyboard.press("Enter")
        expect(page.locator("#new-token")).to_contain_text("shown only this once")
        fits("tokens-created")
        new_id = page.locator("#new-token h2").inner_text().split()[1]
        tab_to(f"Revoke {new_id}", limit=120)
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text(f"Token {new_id} revoked")
        fits("tokens")

        assert errors == [], errors
        # A file with problems (the client's export, when present): every one listed at once, grouped. The page
        # comes back as 422, which Chromium notes in the console (the only line allowed there).
        if KAGGLE.exists():
            page.goto(f"{base}/admin/uploads")
            page.check("#kind-final_grades")
            page.locator("#upload-file").set_input_files(str(KAGGLE))
            page.fill("#upload-course", "walk-bio")
            page.locator("#preview-button").focus()
            page.keyboard.press("Enter")
            expect(page.locator("#problems")).to_contain_text("FinalGrade above 20, the scale of the new course")
            fits("uploads-problems")

        # A refusal, shown on the page in plain words.
        page.goto(f"{base}/admin/periods")
        page.locator('li.term[data-period="walk-term"]').get_by_role("button", name="Delete walk-term").count()
        expect(page.locator('li.term[data-period="walk-term"] .held')).to_contain_text("Cannot be deleted")
        assert [e for e in errors if "status of 422" not in e] == [], errors


# ---- hostile input and the held file's lifetime -------------------------------------------------------------------


def test_hostile_forms_get_the_page_again_never_a_server_error(site: Site, admin: Session) -> None:
    marker = "SECRET-CELL-7731"
    sent = [
        (
            "/admin/periods",
            {"action": "save", "period_id": "x\x00y", "start_date": "9999-12-31", "end_date": "0001-01-01"},
        ),
        ("/admin/periods", {"action": "save", "period_id": "p" * 5000, "cadence_weeks": "1e9"}),
        ("/admin/periods", {"action": "drop-table", "period_id": "admin-default"}),
        ("/admin/courses", {"course_id": "h1", "period_id": "admin-default", "grade_max": "nan", "pass_mark": "inf"}),
        ("/admin/courses", {"course_id": "h1", "period_id": "admin-default", "grade_max": "1e309", "pass_mark": "-1"}),
        (
            "/admin/courses",
            {
                "course_id": "h1",
                "period_id": "admin-default",
                "grade_max": "20",
                "pass_mark": "10",
                "title": "bad\x07title",
            },
        ),  # fmt: skip
        ("/admin/tokens", {"action": "create", "role": "admin\x00", "courses": "c," * 3000}),
        ("/admin/tokens", {"action": "create", "role": "viewer", "courses": "a/b", "expires_days": "9" * 40}),
        ("/admin/tokens", {"action": "revoke", "token_id": "' OR 1=1 --"}),
        ("/admin/uploads/commit", {"held_id": "../../etc/passwd", "key": "\x00"}),
        ("/admin/uploads/commit", {}),
    ]
    for path, form in sent:
        answer = admin.post(path, form)
        assert 400 <= answer.status_code < 500, (path, form, answer.status_code)
        assert "Traceback" not in answer.text and "Internal Server Error" not in answer.text
    for content, form in (
        (f"user_id,course_id,absences\nu1,h-course,{marker}\n".encode(), {"period_id": "admin-default"}),
        (b"\xff\xfe\x00garbage\x00\n\x00", {}),
        (b"user_id,absences\nu1,2\n", {"decimal_separator": "x", "date_format": "YYYY/DD"}),
        (b"", {}),
    ):
        answer = preview(admin, content, kind="students", **form)
        assert answer.status_code == 422, (content, answer.status_code)
        assert marker not in answer.text and problems_on(answer.text)
        assert "Error tokenizing" not in answer.text and "pydantic" not in answer.text
    picture = admin.post("/admin/uploads/preview", {}, files={"file": ("x.png", b"\x89PNG", "image/png")})
    assert picture.status_code == 422 and "not a CSV" in problems_on(picture.text)
    broken = admin.browser.post(
        "/admin/uploads/preview",
        content=b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end',
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert broken.status_code in (400, 403) and "<h1" in broken.text  # the sign-in page says why, never a 500


def test_the_hostile_corpus_previewed_on_the_page(site: Site) -> None:
    """Every file of the hostile corpus (the small ones): the preview passes the files the API accepts and refuses
    the others with the page and its problems; never a server error, nothing stored, only passing files held."""
    from hostile.corpus import CASES

    uploader = site.signed_in("uploader")
    before = count(site.engine, uploads)
    for earlier in site.settings.held_dir.glob("*.held"):  # previews of the tests before, never committed
        earlier.unlink()
    wrong: list[str] = []
    for case in (c for c in CASES if not c.big):
        files = {"file": (case.filename, case.content, case.content_type)}
        answer = uploader.post("/admin/uploads/preview", {"kind": "students", **case.form}, files=files)
        held = list(site.settings.held_dir.glob("*.held"))
        ok = answer.status_code == 200 and "Preview: nothing is stored yet" in answer.text and len(held) == 1
        refused = 400 <= answer.status_code < 500 and problems_on(answer.text) != "" and held == []
        if not (ok if case.status == 202 else refused):
            wrong.append(f"{case.name}: {answer.status_code} (the API answers {case.status}); held {len(held)}")
        for path in held:
            path.unlink()
    assert not wrong, "\n".join(wrong)
    assert count(site.engine, uploads) == before


def test_a_held_file_is_encrypted_taken_once_and_expires(tmp_path: Path) -> None:
    import os
    import time

    from passcompass_assets.core.ingest.held import HOLD_SECONDS, hold, take

    content = b"user_id,Name\nu1,Ada Lovelace\n"
    held = hold(tmp_path, content)
    path = tmp_path / f"{held.held_id}.held"
    assert b"Ada" not in path.read_bytes() and held.key.encode() not in path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert take(tmp_path, held.held_id, hold(tmp_path, b"other").key) is None and path.exists()  # a wrong key
    assert take(tmp_path, held.held_id, held.key) == content and not path.exists()
    assert take(tmp_path, held.held_id, held.key) is None  # once

    old = hold(tmp_path, content)
    stale = time.time() - HOLD_SECONDS - 60
    os.utime(tmp_path / f"{old.held_id}.held", (stale, stale))
    assert take(tmp_path, old.held_id, old.key) is None
    assert not (tmp_path / f"{old.held_id}.held").exists()
