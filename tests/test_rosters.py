"""OneRoster 1.1 and 1.2 CSV exports (zips in the published layout) become periods, courses and the courses'
students; a dry run previews and stores nothing; names, usernames, e-mails and passwords never reach storage."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import date

import pytest
import sqlalchemy as sa

from passcompass_assets.core.courses import get_course, set_course
from passcompass_assets.core.errors import Rejected
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import UploadPolicy
from passcompass_assets.core.periods import find_period
from passcompass_assets.core.records import records_of_courses
from passcompass_assets.core.rosters.receive import receive_roster

TODAY = date(2026, 10, 20)
SECRETS = ("Amara", "Okafor", "amara.okafor@uni.example", "+44 7700 900123", "aokafor", "hunter2")
USERS_11 = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]
USERS_12 = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
    "userMasterIdentifier",
    "resourceSourcedIds",
    "preferredGivenName",
    "preferredMiddleName",
    "preferredFamilyName",
    "primaryOrg",
    "pronouns",
]


def _csv(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def oneroster(
    version: str = "1.1",
    *,
    mode: str = "bulk",
    enrollments: list[dict[str, str]] | None = None,
    demographics: bool = False,
    sessions: list[dict[str, str]] | None = None,
) -> bytes:
    """A OneRoster CSV zip as a student information system writes it (files and columns of the standard)."""
    files = {
        "manifest.csv": _csv(
            ["propertyName", "value"],
            [
                {"propertyName": "manifest.version", "value": "1.0"},
                {"propertyName": "oneroster.version", "value": version},
                {"propertyName": "file.academicSessions", "value": mode},
                {"propertyName": "file.categories", "value": "absent"},
                {"propertyName": "file.classes", "value": mode},
                {"propertyName": "file.courses", "value": mode},
                {"propertyName": "file.demographics", "value": mode if demographics else "absent"},
                {"propertyName": "file.enrollments", "value": mode},
                {"propertyName": "file.orgs", "value": mode},
                {"propertyName": "file.users", "value": mode},
                {"propertyName": "source.systemName", "value": "SIS"},
            ],
        ),
        "academicSessions.csv": _csv(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "type",
                "startDate",
                "endDate",
                "parentSourcedId",
                "schoolYear",
            ],
            sessions
            if sessions is not None
            else [
                {
                    "sourcedId": "2026-autumn",
                    "title": "Autumn 2026",
                    "type": "term",
                    "startDate": "2026-09-07",
                    "endDate": "2026-12-18",
                    "schoolYear": "2027",
                },
                {
                    "sourcedId": "2026-27",
                    "title": "Year",
                    "type": "schoolYear",
                    "startDate": "2026-09-01",
                    "endDate": "2027-06-30",
                    "schoolYear": "2027",
                },
            ],
        ),
        "orgs.csv": _csv(
            ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
            [{"sourcedId": "org1", "name": "University", "type": "school"}],
        ),
        "courses.csv": _csv(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "schoolYearSourcedId",
                "title",
                "courseCode",
                "grades",
                "orgSourcedId",
                "subjects",
                "subjectCodes",
            ],
            [{"sourcedId": "BIO", "title": "Biology", "orgSourcedId": "org1"}],
        ),
        "classes.csv": _csv(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "grades",
                "courseSourcedId",
                "classCode",
                "classType",
                "location",
                "schoolSourcedId",
                "termSourcedIds",
                "subjects",
                "subjectCodes",
                "periods",
            ],
            [
                {
                    "sourcedId": "bio-101-a",
                    "title": "Biology 101 A",
                    "courseSourcedId": "BIO",
                    "classType": "scheduled",
                    "schoolSourcedId": "org1",
                    "termSourcedIds": "2026-autumn",
                },
                {
                    "sourcedId": "bio-201",
                    "title": "Biology 201",
                    "courseSourcedId": "BIO",
                    "classType": "scheduled",
                    "schoolSourcedId": "org1",
                    "termSourcedIds": "2026-27,2026-autumn",
                },
            ],
        ),
        "users.csv": _csv(
            USERS_11 if version == "1.1" else USERS_12,
            [
                {
                    "sourcedId": f"stu-{i}",
                    "enabledUser": "true",
                    "username": SECRETS[4] + str(i),
                    "givenName": SECRETS[0],
                    "familyName": SECRETS[1],
                    "email": SECRETS[2],
                    "phone": SECRETS[3],
                    "password": SECRETS[5],
                    **({"role": "student", "orgSourcedIds": "org1"} if version == "1.1" else {"primaryOrg": "org1"}),
                }
                for i in range(1, 5)
            ],
        ),
        "enrollments.csv": _csv(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            enrollments
            if enrollments is not None
            else [
                {"sourcedId": "e1", "classSourcedId": "bio-101-a", "userSourcedId": "stu-1", "role": "student"},
                {"sourcedId": "e2", "classSourcedId": "bio-101-a", "userSourcedId": "stu-2", "role": "student"},
                {
                    "sourcedId": "e3",
                    "classSourcedId": "bio-201",
                    "userSourcedId": "stu-3",
                    "role": "student",
                    "endDate": "2026-10-02",
                },
                {"sourcedId": "e4", "classSourcedId": "bio-101-a", "userSourcedId": "teacher-9", "role": "teacher"},
            ],
        ),
    }
    if version == "1.2":
        files["roles.csv"] = _csv(
            ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role", "orgSourcedId"], []
        )
    if demographics:
        files["demographics.csv"] = _csv(
            ["sourcedId", "status", "dateLastModified", "birthDate", "sex", "hispanicOrLatinoEthnicity"],
            [
                {"sourcedId": "stu-1", "birthDate": "2006-02-03", "sex": "female"},
                {"sourcedId": "stu-2", "birthDate": "2005-07-08", "sex": "unspecified"},
            ],
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def send(engine: sa.Engine, store: object, content: bytes, dry_run: bool = False, key: str | None = None) -> object:
    outcome = receive_roster(
        engine,
        store,
        UploadPolicy(pseudonym_key=key),
        content,
        today=TODAY,
        pass_mark=10,  # type: ignore[arg-type]
        dry_run=dry_run,
    )
    if outcome.upload_id and not dry_run:
        apply_upload(engine, store, outcome.upload_id, grade_max=20, pass_mark=10)  # type: ignore[arg-type]
    return outcome


def students(engine: sa.Engine) -> dict[tuple[str, str], str]:
    frame = records_of_courses(engine, ["bio-101-a", "bio-201"])
    return {(r.user_id, r.course_id): r.enrolment_status for r in frame.itertuples()}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_bulk_roster_declares_terms_courses_and_students(engine, store, version: str) -> None:
    outcome = send(engine, store, oneroster(version))
    assert outcome.new_periods == ["2026-autumn"]  # type: ignore[attr-defined]
    assert find_period(engine, "2026-autumn").start_date == date(2026, 9, 7)  # type: ignore[union-attr]
    course = get_course(engine, "bio-101-a", "2026-autumn")
    assert course is not None and course.title == "Biology 101 A" and not course.confirmed
    assert get_course(engine, "bio-201", "2026-autumn") is not None  # a year-long class: its term of the export
    assert students(engine) == {
        ("stu-1", "bio-101-a"): "active",
        ("stu-2", "bio-101-a"): "active",
        ("stu-3", "bio-201"): "withdrawn",  # its end date has come
    }


def test_a_delta_withdraws_and_a_dry_run_previews_without_storing(engine, store) -> None:
    send(engine, store, oneroster())
    set_course(engine, "bio-101-a", "2026-autumn", 100, 50, "Biology 101 A")  # a data officer set its scale
    delta = oneroster(
        mode="delta",
        enrollments=[
            {
                "sourcedId": "e1",
                "status": "tobedeleted",
                "dateLastModified": "2026-10-14T09:00:00Z",
                "classSourcedId": "bio-101-a",
                "userSourcedId": "stu-1",
                "role": "student",
            },
            {
                "sourcedId": "e5",
                "status": "active",
                "classSourcedId": "bio-101-a",
                "userSourcedId": "stu-4",
                "role": "student",
            },
        ],
    )
    preview = send(engine, store, delta, dry_run=True)
    assert preview.stored is False and preview.upload_id is None  # type: ignore[attr-defined]
    assert [(c.course_id, c.new, c.withdrawn, c.unchanged) for c in preview.classes] == [("bio-101-a", 1, 1, 0)]  # type: ignore[attr-defined]
    assert ("stu-4", "bio-101-a") not in students(engine)
    send(engine, store, delta)
    now = students(engine)
    assert now[("stu-1", "bio-101-a")] == "withdrawn" and now[("stu-4", "bio-101-a")] == "active"
    withdrawn_on = records_of_courses(engine, ["bio-101-a"]).set_index("user_id").loc["stu-1", "withdrawal_date"]
    assert str(withdrawn_on)[:10] == "2026-10-14"
    course = get_course(engine, "bio-101-a", "2026-autumn")
    assert course is not None and (course.grade_max, course.pass_mark) == (100, 50)  # its scale is kept


def test_bad_rows_are_refused_naming_file_row_and_column(engine, store) -> None:
    content = oneroster(
        sessions=[
            {
                "sourcedId": "2026-autumn",
                "title": "Autumn",
                "type": "term",
                "startDate": "07/09/2026",
                "endDate": "2026-12-18",
            }
        ],
        enrollments=[
            {"sourcedId": "e1", "classSourcedId": "no-such-class", "userSourcedId": "stu-1", "role": "student"}
        ],
    )
    with pytest.raises(Rejected) as refused:
        send(engine, store, content)
    problems = refused.value.as_dict()["problems"]
    assert {
        "row": 2,
        "column": "academicSessions.csv: startDate",
        "message": "startDate is not a date (YYYY-MM-DD)",
    } in problems
    assert any(p["column"] == "classes.csv: termSourcedIds" for p in problems)
    assert find_period(engine, "2026-autumn") is None
    with pytest.raises(Rejected, match="zip"):
        send(engine, store, b"user_id,course_id\n1,2\n")


def test_demographics_keep_only_the_catalogs_audit_columns(engine, store) -> None:
    outcome = send(engine, store, oneroster(demographics=True))
    frame = records_of_courses(engine, ["bio-101-a"]).set_index("user_id")
    assert frame.loc["stu-1", "sex"] == "F" and frame.loc["stu-2", "sex"] is None  # "unspecified": not a category
    assert any("birthDate" in w for w in outcome.warnings)  # type: ignore[attr-defined]


def test_nothing_of_users_csv_is_kept_or_logged(engine, store, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    send(engine, store, oneroster("1.1"), key="a-pseudonym-key")
    with engine.connect() as conn:
        dumped = "".join(
            repr(conn.execute(sa.text(f'SELECT * FROM "{t}"')).all()) for t in sa.inspect(conn).get_table_names()
        )
    files = b"".join(p.read_bytes() for p in settings.resolved_home.rglob("*") if p.is_file())
    for secret in (*SECRETS, "stu-1"):  # with a pseudonym key, not even the sourcedId is stored
        assert secret not in dumped and secret.encode() not in files and secret not in caplog.text


def test_the_api_previews_then_stores_a_roster(client, engine) -> None:
    preview = client.post(
        "/api/v1/rosters", data={"dry_run": "true"}, files={"file": ("roster.zip", oneroster(), "application/zip")}
    )
    assert preview.status_code == 200 and preview.json()["stored"] is False, preview.text
    assert find_period(engine, "2026-autumn") is None
    stored = client.post("/api/v1/rosters", files={"file": ("roster.zip", oneroster(), "application/zip")})
    assert stored.status_code == 202 and stored.json()["new_periods"] == ["2026-autumn"], stored.text
    refused = client.post("/api/v1/rosters", files={"file": ("r.zip", b"not a zip", "application/zip")})
    assert refused.status_code == 400 and set(refused.json()) == {"error", "detail", "problems"}
