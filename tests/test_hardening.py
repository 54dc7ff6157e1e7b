"""What an attacker and an unlucky day broke (issue 21), each on SQLite and PostgreSQL where storage is involved."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

from conftest import PAST_TERM, declare_periods
from fastapi.testclient import TestClient

from passcompass_api.main import create_app
from passcompass_assets.core.access.tokens import create_token
from passcompass_assets.core.db.tables import periods
from passcompass_assets.core.reports.outcomes import Evaluation, LeadTime, evaluation_paths, store_evaluation

# --- High 1: look-alike course ids never share an evaluation ----------------------------------------------------

LOOK_ALIKES = ("sec.eval", "sec eval", "sec_eval")
PERIOD = "p-eval"


def _evaluation(course_id: str, flagged: str, period_id: str = PERIOD) -> Evaluation:
    lead = LeadTime(1, 1, 1.0, 3.0, {flagged: date.today().isoformat()})
    return Evaluation(course_id, period_id, date.today().isoformat(), 2, 0.5, [], lead)


def _viewer(engine, course_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(engine, 'viewer', [course_id]).token}"}


def _get_evaluation(client: TestClient, engine, course_id: str, period_id: str = PERIOD):
    params = {"course_id": course_id, "period_id": period_id}
    return client.get("/api/v1/evaluations", params=params, headers=_viewer(engine, course_id))


def test_look_alike_courses_keep_their_own_evaluations(settings, engine):
    store_evaluation(settings.reports_dir, _evaluation("sec.eval", "stu-of-sec-dot"))
    paths = {course: evaluation_paths(settings.reports_dir, course, PERIOD)["json"] for course in LOOK_ALIKES}
    assert len(set(paths.values())) == len(LOOK_ALIKES), "look-alike course ids share a folder"
    assert len({evaluation_paths(settings.reports_dir, c, p)["json"] for c, p in [("a", "b__c"), ("a__b", "c")]}) == 2
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # A viewer of a course with no evaluation of its own never reads its look-alike's.
        for course in ("sec_eval", "sec eval"):
            answer = _get_evaluation(client, engine, course)
            assert answer.status_code == 404, (course, answer.text[:200])
            assert "stu-of-sec-dot" not in answer.text
        store_evaluation(settings.reports_dir, _evaluation("sec_eval", "stu-of-sec-underscore"))
        for course, student in (("sec.eval", "stu-of-sec-dot"), ("sec_eval", "stu-of-sec-underscore")):
            for fmt in ("json", "html"):
                answer = client.get(
                    "/api/v1/evaluations",
                    params={"course_id": course, "period_id": PERIOD, "format": fmt},
                    headers=_viewer(engine, course),
                )
                assert answer.status_code == 200, answer.text[:200]
                other = "stu-of-sec-underscore" if student == "stu-of-sec-dot" else "stu-of-sec-dot"
                if fmt == "json":
                    assert student in answer.text and other not in answer.text
                else:  # the page names its course (no student)
                    assert f"How right were the reports? {course}," in answer.text
            assert json.loads(paths[course].read_text())["course_id"] == course


def _legacy_folder(reports_dir, course_id: str, period_id: str):
    """Where versions before issue 21 kept a course period's evaluation (characters folded to ``_``)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{course_id}__{period_id}")
    return reports_dir / "evaluations" / safe


def test_an_evaluation_stored_by_an_earlier_version_is_served_only_to_its_own_course(settings, engine):
    # As an earlier version left it: sec.eval's evaluation in the folded folder that sec_eval maps to as well.
    store_evaluation(settings.reports_dir, _evaluation("sec.eval", "stu-of-sec-dot"))
    current = evaluation_paths(settings.reports_dir, "sec.eval", PERIOD)["json"].parent
    legacy = _legacy_folder(settings.reports_dir, "sec.eval", PERIOD)
    shutil.move(current, legacy)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert _get_evaluation(client, engine, "sec_eval").status_code == 404
        served = _get_evaluation(client, engine, "sec.eval")
        assert served.status_code == 200 and "stu-of-sec-dot" in served.text
        # Stored again (a new evaluation, an erasure's rewrite), it moves to its own key: the old copy goes.
        store_evaluation(settings.reports_dir, _evaluation("sec.eval", "stu-later"))
        assert not legacy.exists()
        served = _get_evaluation(client, engine, "sec.eval")
        assert served.status_code == 200 and "stu-later" in served.text and "stu-of-sec-dot" not in served.text


def test_an_evaluation_file_naming_another_course_is_never_served(settings, engine):
    """Whatever a folder holds, the course and period inside the file must be the ones asked for."""
    store_evaluation(settings.reports_dir, _evaluation("sec.eval", "stu-of-sec-dot"))
    source = evaluation_paths(settings.reports_dir, "sec.eval", PERIOD)
    target = evaluation_paths(settings.reports_dir, "sec_eval", PERIOD)
    target["json"].parent.mkdir(parents=True, exist_ok=True)
    for fmt in ("json", "html"):
        if source[fmt] != target[fmt]:
            shutil.copy(source[fmt], target[fmt])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for fmt in ("json", "html"):
            params = {"course_id": "sec_eval", "period_id": PERIOD, "format": fmt}
            answer = client.get("/api/v1/evaluations", params=params, headers=_viewer(engine, "sec_eval"))
            assert answer.status_code == 404 and "stu-of-sec-dot" not in answer.text


# --- High 2: an upload's memory follows its rows, and its courses and periods are bounded -----------------------


def _many_keys_csv(rows: int) -> bytes:
    """``rows`` students, each naming a course and a period of their own."""
    return ("user_id,course_id,period_id,age\n" + "".join(f"s{i},c{i},p{i},17\n" for i in range(rows))).encode()


def test_receiving_an_upload_never_builds_every_course_and_period_pair(engine, store):
    import tracemalloc

    from passcompass_assets.core.ingest.uploads import receive_upload

    content = _many_keys_csv(1500)  # 2.25 million (course, period) pairs, 1,500 of which the rows hold
    with engine.begin() as conn:  # uploads name declared periods only
        conn.execute(
            periods.insert(),
            [
                {"period_id": f"p{i}", "start_date": PAST_TERM[0], "end_date": PAST_TERM[1], "cadence_weeks": 3}
                for i in range(1500)
            ],  # fmt: skip
        )
    tracemalloc.start()
    try:
        receipt = receive_upload(engine, store, content, max_courses=2000, max_periods=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert receipt.rows == 1500 and len(receipt.course_ids) == 1500
    assert peak < 40 * 1024 * 1024, f"{peak / 1e6:.0f} MB for a 40 KB upload"


def _assert_refused_naming(response, column: str) -> None:
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert set(body) == {"error", "detail", "problems"} and body["error"] == "too_many_keys"
    assert [p["column"] for p in body["problems"]] == [column]


def test_an_upload_naming_too_many_courses_or_periods_is_refused(client, engine, settings, default_period):
    settings.max_upload_courses, settings.max_upload_periods = 50, 5
    declare_periods(engine, *[f"t{i}" for i in range(5)])
    many_courses = "user_id,Course\n" + "".join(f"s{i},c{i}\n" for i in range(51))
    answer = client.post("/api/v1/uploads", files={"file": ("u.csv", many_courses.encode(), "text/csv")})
    _assert_refused_naming(answer, "Course")
    many_periods = "user_id,course_id,Term\n" + "".join(f"s{i},c,t{i}\n" for i in range(6))
    answer = client.post("/api/v1/uploads", files={"file": ("u.csv", many_periods.encode(), "text/csv")})
    _assert_refused_naming(answer, "Term")
    assert stored_uploads(engine) == 0
    # At the bound: accepted.
    fits = "user_id,course_id,period_id\n" + "".join(f"s{i},c{i},t{i % 5}\n" for i in range(50))
    answer = client.post("/api/v1/uploads", files={"file": ("u.csv", fits.encode(), "text/csv")})
    assert answer.status_code == 202, answer.text[:300]
    # Predict reads rows the same way (nothing is stored, but the lookups are the same).
    rows = [{"user_id": f"s{i}", "course_id": f"c{i}", "period_id": f"p{i}", "age": 17} for i in range(51)]
    _assert_refused_naming(client.post("/api/v1/predict", json=rows), "course_id")


def stored_uploads(engine) -> int:
    import sqlalchemy as sa

    from passcompass_assets.core.db.tables import uploads

    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one()


# --- Medium 7: no period, as declared or as stored, takes a page down ---------------------------------------------


def _assert_error_shape(response, status: int, column: str | None = None) -> dict:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error", "detail", "problems"}
    if column is not None:
        assert column in [p["column"] for p in body["problems"]], body
    return body


def test_a_period_without_a_sane_end_is_refused(client):
    today = date.today()
    cases = [
        ({"start_date": today.isoformat(), "end_date": "9999-12-31"}, "end_date"),
        ({"start_date": "0001-01-01", "end_date": today.isoformat()}, "start_date"),
        ({"start_date": today.isoformat(), "end_date": (today + timedelta(days=3 * 365)).isoformat()}, None),
    ]
    for body, column in cases:
        _assert_error_shape(client.put("/api/v1/periods/open-ended", json=body), 422, column)
    assert client.get("/api/v1/periods").json() == []
    two_years = {"start_date": today.isoformat(), "end_date": (today + timedelta(days=730)).isoformat()}
    assert client.put("/api/v1/periods/long-but-fine", json=two_years).status_code == 201


def test_no_stored_period_breaks_a_page(client, engine):
    """Periods an earlier version accepted (or a database edit made): every page still answers."""
    import sqlalchemy as sa

    from passcompass_assets.core.courses import set_course
    from passcompass_assets.core.db.tables import periods

    today = date.today()
    # A start whose cadence does not land on date.max (stepping from it overflowed the calendar).
    start = next(today - timedelta(days=d) for d in range(7, 14) if (date.max - today + timedelta(days=d)).days % 21)
    with engine.begin() as conn:
        conn.execute(
            periods.insert(),
            [
                {"period_id": "forever", "start_date": start, "end_date": date.max,
                 "cadence_weeks": 3},
                {"period_id": "since-ever", "start_date": date.min, "end_date": today + timedelta(days=7),
                 "cadence_weeks": 2},
            ],
        )  # fmt: skip
    set_course(engine, "bio-101", "forever", 20, 10)
    set_course(engine, "chem-101", "since-ever", 20, 10)
    listed = client.get("/api/v1/periods")
    assert listed.status_code == 200, listed.text[:300]
    forever = next(p for p in listed.json() if p["period_id"] == "forever")
    assert forever["report_dates"][0] == (start + timedelta(weeks=3)).isoformat()
    assert forever["report_dates"][-1] == date.max.isoformat()
    assert client.get("/").status_code == 200
    for course in ("bio-101", "chem-101"):
        latest = client.get("/api/v1/reports/latest", params={"course_id": course})
        assert latest.status_code == 404 and latest.json()["error"] == "no_report_yet", latest.text[:300]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(periods)).scalar_one() == 2


def test_cadence_never_steps_past_the_calendar():
    from passcompass_assets.core.cadence import is_report_day, next_report_date, report_dates, report_number
    from passcompass_assets.core.periods import Period

    for period in (
        Period("end-of-time", date.max - timedelta(days=30), date.max, 4),
        Period("forever", date(2026, 9, 7), date.max, 3),
        Period("since-ever", date.min, date(2026, 12, 20), 2),
    ):
        dates = report_dates(period)
        assert dates[-1] == period.end_date and dates == sorted(set(dates))
        assert next_report_date(period, date.max) == date.max if period.end_date == date.max else True
        assert report_number(period, period.end_date) >= 1
        assert is_report_day(period, period.end_date)
    assert report_dates(Period("term", date(2026, 9, 7), date(2026, 12, 20), 3)) == [
        date(2026, 9, 28), date(2026, 10, 19), date(2026, 11, 9), date(2026, 11, 30), date(2026, 12, 20),
    ]  # fmt: skip


def test_retention_of_a_period_ending_at_the_end_of_time(engine):
    from passcompass_assets.core.db.tables import periods
    from passcompass_assets.core.privacy.retention import expired_periods

    with engine.begin() as conn:
        conn.execute(
            periods.insert().values(
                period_id="forever", start_date=date(2026, 1, 5), end_date=date.max, cadence_weeks=3
            )
        )
    assert expired_periods(engine, 30, date.today()) == []


# --- Medium 3: erasure and retention reach files a crash left unregistered ----------------------------------------


def _land_without_registering(store, content: bytes) -> str:
    """What a kill -9 between landing a file and writing its upload row leaves: the file, no row."""
    from passcompass_assets.core.ingest.validation import validate_csv

    return store.put(validate_csv(content).table)


def _landed_files_holding(store, column: str, value: str) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return [
        path.name
        for path in sorted(store.root.glob("*.parquet"))
        if pc.any(pc.equal(pq.read_table(path).column(column).cast("string"), value)).as_py()
    ]


def test_erasure_reaches_a_landed_file_no_upload_names(settings, engine, store, default_period):
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.uploads import receive_upload
    from passcompass_assets.core.privacy.erasure import erase_student

    registered = receive_upload(engine, store, b"user_id,course_id,age\nzq-orphan-1,bio,17\nkeep-1,bio,18\n")
    apply_upload(engine, store, registered.upload_id)
    orphan = _land_without_registering(store, b"user_id,course_id,age\nzq-orphan-1,bio,19\nkeep-2,bio,20\n")
    assert len(_landed_files_holding(store, "user_id", "zq-orphan-1")) == 2

    erased = erase_student(settings, engine, "zq-orphan-1", actor="test")
    assert _landed_files_holding(store, "user_id", "zq-orphan-1") == []
    assert not store.path_for(orphan).exists()
    assert erased.counts["landing:unregistered_files"] == 1
    assert erased.counts["landing:unregistered_rewritten"] == 1 and erased.counts["landing:files_rewritten"] == 1
    assert erased.counts["landing:rows"] == 2
    assert _landed_files_holding(store, "user_id", "keep-2")  # the other students of the file stay

    # A retry of the crashed upload lands and registers it as new data (after the erasure).
    again = receive_upload(engine, store, b"user_id,course_id,age\nzq-orphan-1,bio,19\nkeep-2,bio,20\n")
    assert store.path_for(again.landing_sha256).exists()


def test_retention_reaches_a_landed_file_no_upload_names(settings, engine, store):
    from passcompass_assets.core.ingest.uploads import receive_upload
    from passcompass_assets.core.privacy.erasure import purge_period

    declare_periods(engine, "old-term", "new-term")

    receive_upload(engine, store, b"user_id,course_id,period_id,age\ns1,bio,old-term,17\ns2,bio,new-term,18\n")
    _land_without_registering(store, b"user_id,course_id,period_id,age\ns3,bio,old-term,17\ns4,bio,new-term,18\n")
    assert len(_landed_files_holding(store, "period_id", "old-term")) == 2

    purged = purge_period(settings, engine, "old-term")
    assert _landed_files_holding(store, "period_id", "old-term") == []
    assert len(_landed_files_holding(store, "period_id", "new-term")) == 2
    assert purged.counts["landing:unregistered_files"] == 1 and purged.counts["landing:unregistered_rewritten"] == 1


# --- Medium 6: out-of-order ingestion ends in the in-order state, without replaying every newer upload ------------


def _records(engine) -> list[tuple]:
    import sqlalchemy as sa

    from passcompass_assets.core.db.tables import final_grades, student_records

    with engine.connect() as conn:
        columns = [c for c in student_records.c if c.name not in ("updated_at", "source_upload_id")]
        students = conn.execute(sa.select(*columns).order_by(*student_records.primary_key)).all()
        grades = conn.execute(
            sa.select(final_grades.c.user_id, final_grades.c.final_grade, final_grades.c.source_seq).order_by(
                final_grades.c.user_id
            )
        ).all()
    return [tuple(r) for r in students] + [tuple(r) for r in grades]


def test_uploads_applied_in_any_order_end_in_the_state_of_arrival_order(database_url, tmp_path):
    """Dated LMS pushes of a few students and columns each, and final grades, applied one at a time in arrival
    order on one database and shuffled on another: the same rows (an older push applied after a newer one used
    to lose its columns, or put back a newer push's stale ones)."""
    import random

    from benchmarks.ingest_order import make_uploads
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import receive_upload

    files = make_uploads(30, 12, 5, seed=3)
    grades = [b"user_id,course_id,period_id,final_grade\ns00001,bench-101,2026-autumn,%d\n" % g for g in (8, 5, 11)]
    files = files[:10] + grades[:2] + files[10:] + grades[2:]
    ids: dict[str, list[str]] = {}
    states = {}
    for order in ("arrival", "shuffled"):
        if order == "arrival":
            url = database_url
        else:
            url = f"sqlite:///{tmp_path / 'shuffled.db'}" if database_url.startswith("sqlite") else None
            if url is None:  # a second PostgreSQL database beside the fixture's
                import sqlalchemy as sa

                from passcompass_assets.core.db.engine import with_driver

                server = sa.engine.make_url(with_driver(database_url))
                name = server.database + "_b"
                with sa.create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                url = server.set(database=name).render_as_string(hide_password=False)
            upgrade(url)
        engine = get_engine(url)
        declare_periods(engine, "2026-autumn")
        store = LandingStore(tmp_path / order / "landing")
        ids[order] = [
            receive_upload(
                engine, store, content, kind="final_grades" if b"final_grade" in content else "students"
            ).upload_id
            for content in files
        ]
        sequence = list(ids[order])
        if order == "shuffled":
            random.Random(7).shuffle(sequence)
        replays = sum(apply_upload(engine, store, upload_id).replayed_uploads for upload_id in sequence)
        if order == "shuffled":
            # Then again, in arrival order (a retried run of each): nothing changes.
            for upload_id in ids[order]:
                apply_upload(engine, store, upload_id)
        states[order] = _records(engine)
        if order == "arrival":
            assert replays == 0
    assert states["shuffled"] == states["arrival"]
    if not database_url.startswith("sqlite"):
        get_engine(url).dispose()
        with sa.create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Low: ids, header names, course text, dates, hosts, the inbox ---------------------------------------------


def test_ids_that_could_never_be_opened_or_look_personal_are_refused(client, engine):
    cases = [
        (b"user_id,course_id\ns1,bio/101\n", {}, "course_id"),
        (b"user_id,course_id\nctl\x01-1,c\n", {}, "user_id"),
        (b"user_id,course_id,period_id\ns1,c,2026\x1fautumn\n", {}, "period_id"),
        (b"user_id\ns1\n", {"course_id": "a/b"}, "course_id"),
        (b"user_id\ns1\n", {"course_id": "someone@example.org"}, "course_id"),
        (b"user_id\ns1\n", {"course_id": "c", "period_id": "+44 20 7946 0958"}, "period_id"),
        (b"user_id\ns1\n", {"course_id": "c", "period_id": "p\x07"}, "period_id"),
    ]
    for content, form, column in cases:
        answer = client.post("/api/v1/uploads", files={"file": ("u.csv", content, "text/csv")}, data=form)
        body = _assert_error_shape(answer, 422, column)
        assert body["error"] == "invalid_values"
        assert "someone@" not in answer.text and "7946" not in answer.text
    assert stored_uploads(engine) == 0


def test_header_names_that_look_personal_are_never_stored(client, engine, default_period):
    import sqlalchemy as sa

    from passcompass_assets.core.db.tables import uploads

    content = b"user_id,course_id,age,someone@example.org,+1 555 123 4567,Name\ns1,c,17,1,2,Ana\n"
    answer = client.post("/api/v1/uploads", files={"file": ("u.csv", content, "text/csv")})
    assert answer.status_code == 202, answer.text[:300]
    dropped = answer.json()["dropped_columns"]
    assert len(dropped) == 3 and dropped[2] == "Name"
    assert "someone@" not in answer.text and "555 123" not in answer.text
    with engine.connect() as conn:
        stored = conn.execute(sa.select(uploads.c.dropped_columns)).scalar_one()
    assert stored == dropped


def test_course_ids_titles_and_periods_with_control_characters_are_refused(client, engine):
    declare_periods(engine, "p1")
    good = {"period_id": "p1", "grade_max": 20, "pass_mark": 10, "title": "Biology / Chemistry"}
    assert client.put("/api/v1/courses/bio-101", json=good).status_code == 201
    for change, column in (
        ({"title": "Bio\x00logy"}, "title"),
        ({"title": "Bio\x07"}, "title"),
        ({"period_id": "p\x00"}, "period_id"),
        ({"period_id": "p/1"}, "period_id"),
    ):
        _assert_error_shape(client.put("/api/v1/courses/bio-101", json={**good, **change}), 422, column)
    _assert_error_shape(client.put("/api/v1/courses/bio%01", json=good), 422, "course_id")
    assert [c["title"] for c in client.get("/api/v1/courses").json()] == ["Biology / Chemistry"]


def test_a_number_is_not_a_date(client):
    today = date.today()
    body = {"start_date": 0, "end_date": (today + timedelta(days=90)).isoformat()}
    _assert_error_shape(client.put("/api/v1/periods/p1", json=body), 422, "start_date")
    _assert_error_shape(client.get("/api/v1/audit", params={"since": "0.5"}), 422, "since")
    assert client.get("/api/v1/audit", params={"since": today.isoformat()}).status_code == 200
    assert client.get("/api/v1/audit", params={"since": f"{today.isoformat()}T08:00:00Z"}).status_code == 200
    assert client.get("/api/v1/periods").json() == []


def test_a_host_with_user_info_is_not_a_trusted_host(client):
    for host in ("localhost:1@evil.example", "localhost/evil.example", "localhost:port"):
        _assert_error_shape(client.get("/api/v1/health", headers={"Host": host}), 400)
    assert client.get("/api/v1/health", headers={"Host": "localhost:8000"}).status_code == 200


def test_the_inbox_never_reads_a_hard_link(engine, settings, tmp_path):
    import os

    import dagster as dg

    from passcompass_assets.ingestion import inbox_sensor
    from passcompass_assets.resources import PlatformResource

    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_bytes(b"user_id,course_id,absences\nu-private,c,3\n")
    os.link(elsewhere, settings.inbox_dir / "linked.csv")
    with dg.instance_for_test() as instance:
        inbox_sensor(dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()}))
    error = json.loads((settings.inbox_dir / "rejected" / "linked.csv.error.json").read_text())
    assert error["error"] == "not_a_file" and "hard link" in error["detail"]
    assert elsewhere.read_bytes().startswith(b"user_id") and not (settings.inbox_dir / "linked.csv").exists()
    assert stored_uploads(engine) == 0
