"""Activity logs in each platform's own layout (Moodle's log store, Canvas Data 2's web logs, xAPI, OULAD's
studentVle, a generic CSV) become daily counts per student, course, day and kind: once each, whatever is re-sent
or arrives out of order, with nothing of the people or their browsers kept, and refused whole when a row is wrong.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from passcompass_assets.core.activity.store import import_activity
from passcompass_assets.core.courses import set_course
from passcompass_assets.core.db.tables import activity_daily, activity_seen
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.periods import Period, upsert_period

AUTUMN = Period("2026-autumn", date(2026, 9, 7), date(2026, 12, 18), 3)
SPRING = Period("2027-spring", date(2027, 1, 11), date(2027, 5, 7), 3)
KIND_BY = {  # how each format spells each kind
    "moodle": {
        "content": "mod_resource",
        "quiz": "mod_quiz",
        "assignment": "mod_assign",
        "forum": "mod_forum",
        "other": "mod_choice",
    },
    "canvas": {
        "content": "/pages/week-1",
        "quiz": "/quizzes/5",
        "assignment": "/assignments/7",
        "forum": "/discussion_topics/3",
        "other": "/grades",
    },
    "xapi": {
        "content": "http://adlnet.gov/expapi/activities/lesson",
        "quiz": "http://adlnet.gov/expapi/activities/assessment",
        "assignment": "http://id.tincanapi.com/activitytype/assignment",
        "forum": "http://id.tincanapi.com/activitytype/discussion",
        "other": "http://adlnet.gov/expapi/activities/profile",
    },
    "oulad": {
        "content": "oucontent",
        "quiz": "quiz",
        "assignment": "oucontent",
        "forum": "forumng",
        "other": "ouelluminate_x",
    },
}
# What a person or a browser is, in the exports: none of it may be found anywhere after an import.
SECRETS = (
    "Ana Lima",
    "ana.lima@example.edu",
    "203.0.113.77",
    "Mozilla/5.0 (PassCompassTest)",
    "week-1",
    "canvas.example.edu",
    "sess-4f9a",
)


def events() -> pd.DataFrame:
    """The same 60 events, whatever the format: three students, two courses, three kinds of days."""
    rows = []
    start = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
    kinds = ["content", "quiz", "assignment", "forum", "other"]
    for n in range(60):
        rows.append(
            {
                "id": 1000 + n,
                "user_id": f"s{n % 3 + 1}",
                "course_id": "101" if n % 4 else "202",
                "at": start + timedelta(days=n // 6, hours=n % 5),
                "kind": kinds[n % 5],
            }
        )
    return pd.DataFrame(rows)


def expected(frame: pd.DataFrame, fmt: str = "") -> dict[tuple[str, str, date, str], int]:
    kinds = frame["kind"].replace({"assignment": "content"}) if fmt == "oulad" else frame["kind"]
    grouped = frame.assign(day=frame["at"].dt.date, kind=kinds).groupby(["user_id", "course_id", "day", "kind"])
    return {key: int(n) for key, n in grouped.size().items()}


def user_of(fmt: str, user: str) -> str:
    """Moodle and OULAD name students by number (Moodle's 1 and 2 are its guest and admin): s1 is 101 there."""
    return str(100 + int(user[1:])) if fmt in ("moodle", "oulad") else user


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def moodle_row(event_id: int, component: str, edulevel: int, user: object, course: object, at: int) -> list[object]:
    """A row of ``logstore_standard_log``, with what else Moodle writes there (an IP address, the event's JSON)."""
    return [
        event_id,
        "\\mod_x\\event\\course_module_viewed",
        component,
        "viewed",
        "course_module",
        "x",
        5,
        "r",
        edulevel,
        40,
        70,
        12,
        user,
        course,
        "",
        0,
        json.dumps({"name": SECRETS[0]}),
        at,
        "web",
        SECRETS[2],
        "",
    ]


def moodle(frame: pd.DataFrame, extra: bool = True) -> bytes:
    """``logstore_standard_log`` as Moodle's database has it; with a teacher's view, a login and a post on the site's
    front page (none counted)."""
    header = [
        "id",
        "eventname",
        "component",
        "action",
        "target",
        "objecttable",
        "objectid",
        "crud",
        "edulevel",
        "contextid",
        "contextlevel",
        "contextinstanceid",
        "userid",
        "courseid",
        "relateduserid",
        "anonymous",
        "other",
        "timecreated",
        "origin",
        "ip",
        "realuserid",
    ]
    rows = [
        moodle_row(e.id, KIND_BY["moodle"][e.kind], 2, user_of("moodle", e.user_id), e.course_id, int(e.at.timestamp()))
        for e in frame.itertuples()
    ]
    if extra:
        first = int(frame["at"].iloc[0].timestamp())
        rows.append(moodle_row(9001, "core", 1, 9, "101", first))  # a teacher viewing the course
        rows.append(moodle_row(9002, "core", 0, 101, "0", first))  # a login: not in a course
        rows.append(moodle_row(9003, "mod_forum", 2, 102, "1", first))  # a post on the site's front page
    return _csv(header, rows)


def canvas_row(request: str, at: pd.Timestamp, user: str, real_user: str, course: str, path: str) -> list[object]:
    """A ``web_logs`` row, with what else Canvas logs (the URL, IP address, user agent, session)."""
    return [
        request,
        at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        at.date(),
        user,
        real_user,
        course,
        f"https://{SECRETS[5]}{path}",
        "GET",
        SECRETS[2],
        SECRETS[3],
        200,
        SECRETS[6],
        "true",
        "pages",
    ]


def canvas(frame: pd.DataFrame, extra: bool = True) -> bytes:
    """Canvas Data 2 ``canvas_logs.web_logs``; with a masquerading request and one outside any course."""
    header = [
        "id",
        "timestamp",
        "timestamp_day",
        "user_id",
        "real_user_id",
        "course_id",
        "url",
        "http_method",
        "remote_ip",
        "user_agent",
        "http_status",
        "session_id",
        "participated",
        "web_application_controller",
    ]
    rows = [
        canvas_row(
            f"req-{e.id}", e.at, e.user_id, "", e.course_id, f"/courses/{e.course_id}{KIND_BY['canvas'][e.kind]}"
        )
        for e in frame.itertuples()
    ]
    if extra:
        at = pd.Timestamp("2026-09-08T10:00:00Z")
        rows.append(canvas_row("req-m", at, "s1", "admin7", "101", "/courses/101/pages/x"))  # masquerading
        rows.append(canvas_row("req-d", at, "s1", "", "", "/"))  # the dashboard: no course
    return _csv(header, rows)


def statement(e: object, with_id: bool = True) -> dict[str, object]:
    found = {
        "actor": {
            "objectType": "Agent",
            "name": SECRETS[0],
            "mbox": f"mailto:{SECRETS[1]}",
            "account": {"homePage": "https://lms.example.edu", "name": e.user_id},
        },  # type: ignore[attr-defined]
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "https://lms.example.edu/activity/9", "definition": {"type": KIND_BY["xapi"][e.kind]}},  # type: ignore[attr-defined]
        "context": {
            "contextActivities": {
                "parent": [{"id": "https://lms.example.edu/module/3"}],
                "grouping": [
                    {
                        "id": f"https://lms.example.edu/courses/{e.course_id}",  # type: ignore[attr-defined]
                        "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
                    }
                ],
            }
        },
        "timestamp": e.at.isoformat(),  # type: ignore[attr-defined]
    }
    if with_id:
        found["id"] = f"6fa3c6a2-0000-4000-8000-{e.id:012d}"  # type: ignore[attr-defined]
    return found


def xapi(frame: pd.DataFrame, extra: bool = True, array: bool = False) -> bytes:
    """Statements as a Learning Record Store exports them (JSON lines, or one array); with a voiding statement."""
    found = [statement(e) for e in frame.itertuples()]
    if extra:
        found.append(
            {
                "actor": {"account": {"homePage": "https://lms.example.edu", "name": "s1"}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                "object": {"objectType": "StatementRef", "id": "x"},
                "timestamp": "2026-09-08T10:00:00Z",
            }
        )
    if array:
        return json.dumps(found).encode()
    return "".join(json.dumps(s) + "\n" for s in found).encode()


def oulad(frame: pd.DataFrame, extra: bool = True) -> bytes:
    """OULAD's ``studentVle.csv``: clicks summed per student, site and day, ``date`` from the presentation's start."""
    sites = {kind: str(700 + i) for i, kind in enumerate(KIND_BY["oulad"])}
    clicks = (
        frame.assign(
            site=frame["kind"].map(sites),
            day=(frame["at"].dt.tz_localize(None).dt.normalize() - pd.Timestamp(AUTUMN.start_date)).dt.days,
        )
        .groupby(["course_id", "user_id", "site", "day"])
        .size()
    )
    rows = [
        [course, AUTUMN.period_id, user_of("oulad", user), site, day, n]
        for (course, user, site, day), n in clicks.items()
    ]
    return _csv(["code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"], rows)


def vle() -> bytes:
    """OULAD's ``vle.csv``: each site's activity type."""
    rows = [[700 + i, "101", AUTUMN.period_id, kind, "", ""] for i, kind in enumerate(KIND_BY["oulad"].values())]
    return _csv(["id_site", "code_module", "code_presentation", "activity_type", "week_from", "week_to"], rows)


def generic(frame: pd.DataFrame, extra: bool = True) -> bytes:
    rows = [[e.user_id, e.course_id, e.at.isoformat(), e.kind, SECRETS[1]] for e in frame.itertuples()]
    return _csv(["user_id", "course_id", "timestamp", "event_type", "email"], rows)


WRITERS = {"moodle": moodle, "canvas": canvas, "xapi": xapi, "oulad": oulad, "generic": generic}
SKIPPED = {  # what each file's extra rows are, as the receipt counts them
    "moodle": {"not_participating": 2, "site_or_guest": 1},
    "canvas": {"masquerading": 1, "not_in_a_course": 1},
    "xapi": {"voiding_statement": 1},
    "oulad": {},
    "generic": {},
}


@pytest.fixture
def terms(engine: sa.Engine) -> sa.Engine:
    for period in (AUTUMN, SPRING):
        upsert_period(engine, period)
    for course in ("101", "202"):
        set_course(engine, course, AUTUMN.period_id, 20, 10)
    set_course(engine, "101", SPRING.period_id, 20, 10)  # the same course id next term: its events stay apart
    return engine


def send(engine: sa.Engine, fmt: str, content: bytes, **options: object) -> object:
    companion = io.BytesIO(vle()) if fmt == "oulad" else None
    return import_activity(engine, io.BytesIO(content), fmt, companion=companion, **options)  # type: ignore[arg-type]


def stored(engine: sa.Engine) -> dict[tuple[str, str, date, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(activity_daily)).mappings().all()
    assert all(r["period_id"] == AUTUMN.period_id for r in rows)
    return {(r["user_id"], r["course_id"], r["day"], r["kind"]): r["events"] for r in rows}


def as_stored(fmt: str, counts: dict[tuple[str, str, date, str], int]) -> dict[tuple[str, str, date, str], int]:
    return {(user_of(fmt, u), c, d, k): n for (u, c, d, k), n in counts.items()}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_each_format_is_counted_per_student_course_day_and_kind(terms: sa.Engine, fmt: str) -> None:
    frame = events()
    receipt = send(terms, fmt, WRITERS[fmt](frame))
    assert stored(terms) == as_stored(fmt, expected(frame, fmt))
    assert receipt.skipped == SKIPPED[fmt]  # type: ignore[attr-defined]
    assert (receipt.students, receipt.courses) == (3, 2)  # type: ignore[attr-defined]
    assert receipt.first_day == date(2026, 9, 7) and receipt.last_day == date(2026, 9, 16)  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_resent_overlapping_and_out_of_order_increments_count_each_event_once(terms: sa.Engine, fmt: str) -> None:
    frame = events()
    early, late = frame.iloc[:30], frame.iloc[24:]  # they overlap on day 5's 6 events
    first = send(terms, fmt, WRITERS[fmt](late, extra=False))  # the later increment arrives first
    second = send(terms, fmt, WRITERS[fmt](early, extra=False))
    again = send(terms, fmt, WRITERS[fmt](frame))
    assert stored(terms) == as_stored(fmt, expected(frame, fmt))
    assert again.events_counted == 0 and again.already_counted > 0  # type: ignore[attr-defined]
    if fmt != "oulad":  # OULAD's rows are sums per site and day: an overlap is counted by row, not by click
        assert first.events_counted + second.events_counted == len(frame)  # type: ignore[attr-defined]
        assert second.already_counted == 6  # type: ignore[attr-defined]


def test_an_event_counts_on_the_institutions_local_day(terms: sa.Engine) -> None:
    late_evening = events().iloc[:1].assign(at=pd.Timestamp("2026-09-09T02:30:00Z"))  # 22:30 on the 8th in New York
    send(terms, "moodle", moodle(late_evening, extra=False), timezone="America/New_York")
    assert [key[2] for key in stored(terms)] == [date(2026, 9, 8)]


def test_events_go_to_the_term_that_holds_their_day_and_others_are_skipped(terms: sa.Engine) -> None:
    frame = events().iloc[:3].assign(course_id="101")
    frame.loc[0, "at"] = pd.Timestamp("2026-12-28T10:00:00Z")  # between terms: leads up to spring (28 days)
    frame.loc[1, "at"] = pd.Timestamp("2026-06-01T10:00:00Z")  # no term holds it
    receipt = send(terms, "generic", generic(frame))
    with terms.connect() as conn:
        periods = dict(conn.execute(sa.select(activity_daily.c.day, activity_daily.c.period_id)).tuples().all())
    assert periods == {date(2026, 12, 28): SPRING.period_id, date(2026, 9, 7): AUTUMN.period_id}
    assert receipt.skipped == {"outside_declared_courses": 1}  # type: ignore[attr-defined]
    # Skipped events are not marked counted: once the course is set up, the same file counts them.
    assert send(terms, "generic", generic(frame)).events_counted == 0  # type: ignore[attr-defined]


def test_an_xapi_array_and_statements_without_ids_are_read(terms: sa.Engine) -> None:
    frame = events()
    send(terms, "xapi", xapi(frame, array=True))
    assert stored(terms) == expected(frame)
    no_ids = "".join(json.dumps(statement(e, with_id=False)) + "\n" for e in frame.iloc[:5].itertuples()).encode()
    assert send(terms, "xapi", no_ids).events_counted == 5  # type: ignore[attr-defined]
    assert send(terms, "xapi", no_ids).events_counted == 0  # type: ignore[attr-defined]


def _second_time_unreadable(content: bytes, fmt: str) -> bytes:
    at = events()["at"].iloc[1]
    written = str(int(at.timestamp())) if fmt == "moodle" else at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return content.replace(written.encode(), b"soon", 1)


HOSTILE = {
    "moodle": (lambda: _second_time_unreadable(moodle(events().iloc[:4], extra=False), "moodle"), "timecreated"),
    "canvas": (lambda: _second_time_unreadable(canvas(events().iloc[:4], extra=False), "canvas"), "timestamp"),
    "xapi": (
        lambda: (
            json.dumps(statement(next(events().iloc[:1].itertuples())))
            + "\n"
            + json.dumps({"actor": {"mbox": f"mailto:{SECRETS[1]}"}, "verb": {"id": "v"}, "timestamp": "2026-09-08"})
            + "\n{not json\n"
        ).encode(),
        "actor",
    ),
    "generic": (
        lambda: _csv(
            ["user_id", "course_id", "timestamp", "event_type", "count"],
            [
                ["s1", "101", "2026-09-08", "quiz", "2"],
                ["", "101", "2026-09-08", "quiz", "1"],
                ["s2", "101", "yesterday", "quiz", "1"],
                ["s3", "101", "2026-09-08", "quiz", "-4"],
            ],
        ),
        "user_id",
    ),
}


@pytest.mark.parametrize("fmt", list(HOSTILE))
def test_a_file_with_a_bad_row_is_refused_whole_naming_row_and_column(terms: sa.Engine, fmt: str) -> None:
    content, column = HOSTILE[fmt][0](), HOSTILE[fmt][1]
    with pytest.raises(Rejected) as refused:
        send(terms, fmt, content)
    answer = json.dumps(refused.value.as_dict())
    assert refused.value.status == 422 and column in {p["column"] for p in refused.value.as_dict()["problems"]}
    assert all(p["row"] for p in refused.value.as_dict()["problems"])
    assert SECRETS[1] not in answer and "soon" not in answer and "yesterday" not in answer
    with terms.connect() as conn:
        for table in (activity_daily, activity_seen):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_missing_columns_and_a_missing_companion_file_are_named(terms: sa.Engine) -> None:
    with pytest.raises(Rejected) as refused:
        send(terms, "moodle", b"id,userid,courseid\n1,2,101\n")
    assert {p["column"] for p in refused.value.as_dict()["problems"]} == {"component", "edulevel", "timecreated"}
    with pytest.raises(Rejected, match="vle.csv"):
        import_activity(terms, io.BytesIO(oulad(events())), "oulad")


def test_nothing_of_the_people_or_their_browsers_is_kept(
    terms: sa.Engine, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for fmt, write in WRITERS.items():
        send(terms, fmt, write(events()))
    with terms.connect() as conn:
        dumped = ""
        for name in sa.inspect(conn).get_table_names():
            dumped += repr(conn.execute(sa.text(f'SELECT * FROM "{name}"')).all())
    home = settings.resolved_home  # type: ignore[attr-defined]
    files = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for secret in SECRETS:
        assert secret not in dumped and secret.encode() not in files and secret not in caplog.text


def test_pseudonyms_replace_the_ids_when_a_key_is_set(terms: sa.Engine) -> None:
    send(terms, "generic", generic(events()), pseudonym_key="k")
    assert {key[0][:2] for key in stored(terms)} == {"p-"}


def test_the_api_counts_an_upload_and_refuses_bad_ones_in_the_problem_shape(client, terms) -> None:
    headers: dict[str, str] = {}
    answer = client.post(
        "/api/v1/activity", data={"format": "generic"}, files={"file": ("log.csv", generic(events()))}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["events_counted"] == 60 and answer.json()["students"] == 3
    oulad_answer = client.post(
        "/api/v1/activity",
        data={"format": "oulad"},
        files={"file": ("studentVle.csv", oulad(events())), "vle": ("vle.csv", vle())},
        headers=headers,
    )
    assert oulad_answer.status_code == 200, oulad_answer.text
    wrong = client.post(
        "/api/v1/activity", data={"format": "blackboard"}, files={"file": ("log.csv", b"a\n1\n")}, headers=headers
    )
    assert wrong.status_code == 422 and set(wrong.json()) == {"error", "detail", "problems"}
    bad = client.post(
        "/api/v1/activity", data={"format": "xapi"}, files={"file": ("x.json", HOSTILE["xapi"][0]())}, headers=headers
    )
    assert bad.status_code == 422 and SECRETS[1] not in bad.text
    client.headers.pop("Authorization")
    assert (
        client.post("/api/v1/activity", data={"format": "generic"}, files={"file": ("l.csv", b"")}).status_code == 401
    )


def test_erasure_and_retention_reach_activity(terms: sa.Engine, settings: object) -> None:
    from passcompass_assets.core.privacy.erasure import erase_student, purge_period

    send(terms, "generic", generic(events()))
    erased = erase_student(settings, terms, "s1", actor="test")  # type: ignore[arg-type]
    assert erased.counts["rows:activity_daily"] > 0
    assert {key[0] for key in stored(terms)} == {"s2", "s3"}
    # The erased student's events stay marked counted (a key holds no id): the same file sent again does not
    # bring them back.
    send(terms, "generic", generic(events()))
    assert {key[0] for key in stored(terms)} == {"s2", "s3"}
    purged = purge_period(settings, terms, AUTUMN.period_id)  # type: ignore[arg-type]
    assert purged.counts["activity_events_forgotten"] == 60
    with terms.connect() as conn:
        for table in (activity_daily, activity_seen):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_the_command_line_backfills_a_log_store(terms: sa.Engine, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from passcompass_assets.cli import main

    log = tmp_path / "logstore_standard_log.csv"
    log.write_bytes(moodle(events()))
    assert main(["activity", str(log), "--format", "moodle"]) == 0
    assert json.loads(capsys.readouterr().out)["events_counted"] == 60
    log.write_bytes(_second_time_unreadable(moodle(events()), "moodle"))
    assert main(["activity", str(log), "--format", "moodle"]) == 1
    refused = json.loads(capsys.readouterr().err)
    assert refused["problems"] == [
        {"row": 3, "column": "timecreated", "message": "timecreated is not a Unix time in seconds"}
    ]


def test_oulad_rows_of_an_undeclared_presentation_or_with_bad_clicks_are_refused(terms: sa.Engine) -> None:
    content = oulad(events().iloc[:3]).decode().replace(AUTUMN.period_id, "2013J", 1)
    content = content.rsplit(",", 1)[0] + ",0\n"  # the last row clicks nothing
    with pytest.raises(Rejected) as refused:
        send(terms, "oulad", content.encode())
    columns = {p["column"] for p in refused.value.as_dict()["problems"]}
    assert columns == {"code_presentation", "sum_click"}
