"""The upload contract through the REST API, on SQLite and PostgreSQL: status codes, bodies, nothing stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import declare_periods

from passcompass_assets.core.db.tables import student_records, uploads

# Uploads without a period_id name the configured default period: declared, as a deployment must.
pytestmark = pytest.mark.usefixtures("default_period")
GOOD = b"user_id,course_id,age,studytime,G1\ns1,math,17,2,12\ns2,math,18,3,9\n"


def post(client, content: bytes, name: str = "data.csv", content_type: str = "text/csv", **form: str):
    return client.post("/api/v1/uploads", files={"file": (name, content, content_type)}, data=form)


def stored_uploads(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one()


def assert_rejected(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["detail"] and isinstance(body["problems"], list)
    return body


def test_accepts_and_reports_upload(client):
    response = post(client, GOOD)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "received" and body["rows"] == 2
    assert body["course_ids"] == ["math"] and body["duplicate_of"] is None
    status = client.get(f"/api/v1/uploads/{body['upload_id']}")
    assert status.status_code == 200 and status.json()["status"] == "received"


def test_same_file_again_is_a_duplicate(client, engine):
    first = post(client, GOOD).json()
    again = post(client, GOOD)
    assert again.status_code == 200
    assert again.json()["duplicate_of"] == first["upload_id"]
    assert stored_uploads(engine) == 1


def test_course_from_form_field_and_dropped_pii_columns(client, engine):
    declare_periods(engine, "2026-autumn")
    content = b"StudentID;Name;Email;Phone;AttendanceRate\n1001;Ana Lima;ana@example.org;+351 912 345 678;95\n"
    response = post(client, content, course_id="bio-101", period_id="2026-autumn")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["course_ids"] == ["bio-101"] and body["period_ids"] == ["2026-autumn"]
    assert body["dropped_columns"] == ["Name", "Email", "Phone"]


def test_bom_semicolon_quotes_blanks_and_crlf(client):
    content = '\ufeff"user_id" ; "course_id" ; "G1" \r\n "a1" ; "c" ; " 11 "\r\n'.encode()
    response = post(client, content)
    assert response.status_code == 202, response.text


def test_tab_delimited_and_latin1(client):
    content = "user_id\tcourse_id\tMjob\nJosé\tc\tteacher\n".encode("latin-1")
    response = post(client, content)
    assert response.status_code == 202, response.text
    assert any("Latin-1" in w for w in response.json()["warnings"])


def test_rejections_store_nothing(client, engine):
    cases = [
        (b"", 400, "empty_file"),
        (b"user_id,course_id\n", 422, "no_rows"),
        (b"course_id,age\nc,17\n", 422, "missing_columns"),
        (b"user_id,age\ns1,17\n", 422, "missing_columns"),
        (b"user_id,course_id,age\n,c,17\n", 422, "invalid_values"),
        (b"user_id,course_id,age\ns1,c,seventeen\n", 422, "invalid_values"),
        (b"user_id,course_id,AttendanceRate\ns1,c,200\n", 422, "invalid_values"),
        (b"user_id,course_id,StudyHoursPerWeek\ns1,c,-3\n", 422, "invalid_values"),
        (b"user_id,course_id,age\ns1,c,17\ns1,c,18\n", 422, "invalid_values"),
        (b"user_id,course_id\nana@example.org,c\n", 422, "invalid_values"),
        (b"user_id,course_id\n+44 20 7946 0958,c\n", 422, "invalid_values"),
        (b'user_id,course_id\n"s1,c\n', 400, "malformed_csv"),
        (b"user_id,course_id\ns1,c,extra\n", 400, "malformed_csv"),
        (b"user_id,course_id,G3,FinalGrade\ns1,c,10,11\n", 422, "invalid_header"),
        (b"\x00\x01binary\x00", 415, "not_a_csv"),
        (b"PK\x03\x04xlsx", 415, "not_a_csv"),
    ]
    for content, status, error in cases:
        assert_rejected(post(client, content), status, error)
    assert_rejected(post(client, GOOD, name="x.png", content_type="image/png"), 415, "not_a_csv")
    assert stored_uploads(engine) == 0
    assert client.get("/api/v1/health").status_code == 200


def test_problems_name_row_and_column(client):
    content = b"user_id,course_id,AttendanceRate,age\ns1,c,50,17\ns2,c,200,abc\n"
    body = assert_rejected(post(client, content), 422, "invalid_values")
    found = {(p["row"], p["column"]) for p in body["problems"]}
    assert found == {(3, "AttendanceRate"), (3, "age")}


def test_too_large_is_413(client, settings):
    client.app.state.settings = settings.model_copy(update={"max_upload_bytes": 100})
    big = b"user_id,course_id\n" + b"s,c\n" * 100
    assert_rejected(post(client, big), 413, "too_large")


def test_missing_file_field_is_422_json(client):
    response = client.post("/api/v1/uploads", data={"course_id": "c"})
    assert_rejected(response, 422, "invalid_request")


def test_final_grades_endpoint(client):
    response = client.post(
        "/api/v1/final-grades",
        files={"file": ("g.csv", b"user_id,final_grade\ns1,14\n", "text/csv")},
        data={"course_id": "c"},
    )
    assert response.status_code == 202, response.text
    missing = client.post("/api/v1/final-grades", files={"file": ("g.csv", b"user_id,course_id\ns1,c\n", "text/csv")})
    assert_rejected(missing, 422, "missing_columns")


def test_unknown_upload_is_404_json(client):
    assert_rejected(client.get("/api/v1/uploads/nope"), 404, "not_found")


def test_health(client, engine):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.json()["database"] == engine.dialect.name
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(student_records)).scalar_one() == 0
