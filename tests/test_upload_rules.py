"""The data officer's rules of an upload, through the API on SQLite and PostgreSQL: labels only on purpose,
declared periods only, every problem in one grouped answer, real-world number and date formats, nothing usable
refused, and a preview that stores nothing."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from conftest import PAST_TERM, declare_periods

from passcompass_assets.core.db.tables import final_grades, record_versions, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload

ERROR_KEYS = {"error", "detail", "problems"}


def post(client, content: bytes, route: str = "uploads", **form: str):
    return client.post(f"/api/v1/{route}", files={"file": ("data.csv", content, "text/csv")}, data=form)


def counts(engine, settings) -> tuple[int, int, int, int, set[str]]:
    """Rows of the tables an upload writes, and the landed files: what a refusal or a preview leaves unchanged."""
    with engine.connect() as conn:
        rows = [
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (uploads, student_records, record_versions, final_grades)
        ]
    return (*rows, {p.name for p in settings.landing_dir.iterdir()})  # type: ignore[return-value]


def refused(response, error: str) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["error"] == error, body
    return body


def running_term(engine, period_id: str = "running") -> None:
    today = date.today()
    declare_periods(engine, period_id, start=today - timedelta(weeks=4), end=today + timedelta(weeks=8))


# --- labels only on purpose ---------------------------------------------------------------------------------------


def test_a_final_grade_column_in_student_data_is_not_stored(client, engine, store, default_period):
    answer = post(client, b"StudentID,course_id,FinalGrade,absences\ns1,bio,80,3\ns2,bio,65,1\n")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert "FinalGrade" in body["dropped_columns"] and "final_grade" not in body["columns"]
    [warning] = [w for w in body["warnings"] if "FinalGrade" in w]
    assert "POST /api/v1/final-grades" in warning
    apply_upload(engine, store, body["upload_id"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(final_grades)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(student_records)).scalar_one() == 2


def test_final_grades_before_the_end_need_confirmation(client, engine, store, settings):
    running_term(engine)
    declare_periods(engine, "ended")
    grades = b"user_id,course_id,final_grade\ns1,bio,14\ns2,bio,8\n"
    before = counts(engine, settings)
    early = refused(post(client, grades, "final-grades", period_id="running"), "period_not_ended")
    [problem] = early["problems"]
    assert problem["column"] == "confirm_before_end" and "confirm_before_end=true" in problem["message"]
    end = (date.today() + timedelta(weeks=8)).isoformat()
    assert end in problem["message"] and "confirm_before_end=true" in early["detail"]
    assert counts(engine, settings) == before
    confirmed = post(client, grades, "final-grades", period_id="running", confirm_before_end="true")
    assert confirmed.status_code == 202, confirmed.text
    assert post(client, grades, "final-grades", period_id="ended").status_code == 202


# --- declared periods only ----------------------------------------------------------------------------------------


def test_an_undeclared_period_is_refused_naming_the_closest(client, engine, settings):
    declare_periods(engine, "2026-autumn", "2026-spring", "2025-autumn")
    before = counts(engine, settings)
    typo = refused(post(client, b"user_id,course_id,age\ns1,bio,19\n", period_id="2026-autum"), "undeclared_period")
    [problem] = typo["problems"]
    assert problem["column"] == "period_id" and "did you mean 2026-autumn" in problem["message"]
    # In a column: the rows that name it, under the file's own header.
    content = b"user_id,course_id,term,age\ns1,bio,2026-autumn,19\ns2,bio,2099-nope,20\ns3,bio,2099-nope,21\n"
    in_file = refused(post(client, content), "undeclared_period")
    [problem] = in_file["problems"]
    assert (problem["row"], problem["rows"], problem["count"], problem["column"]) == (3, "3-4", 2, "term")
    assert "2099-nope is not declared" in problem["message"] and "declared: 2025-autumn" in problem["message"]
    # No period sent: the configured default, which is not declared either.
    default = refused(post(client, b"user_id,course_id,age\ns1,bio,19\n"), "undeclared_period")
    assert "PASSCOMPASS_DEFAULT_PERIOD_ID" in default["problems"][0]["message"]
    assert counts(engine, settings) == before
    assert sorted(p["period_id"] for p in client.get("/api/v1/periods").json()) == [
        "2025-autumn",
        "2026-autumn",
        "2026-spring",
    ]


# --- every problem in one answer, grouped ------------------------------------------------------------------------


def test_every_problem_of_a_file_in_one_grouped_answer(client, engine, settings, default_period):
    rows = ["StudentID,course_id,AttendanceRate,Age,G1"]
    rows += [f"s{i},bio,{150 if i < 40 else 90},{'x' if i in (7, 8, 9, 30) else 19},{25 if i >= 50 else 12}"
             for i in range(60)]  # fmt: skip
    rows += ["s3,bio,90,19,12"]  # row 62 repeats row 5's student
    before = counts(engine, settings)
    body = refused(post(client, ("\n".join(rows) + "\n").encode()), "invalid_values")
    by_message = {p["message"]: p for p in body["problems"]}
    attendance = by_message["AttendanceRate is outside 0 to 100"]
    assert (attendance["column"], attendance["rows"], attendance["count"]) == ("AttendanceRate", "2-41", 40)
    age = by_message["Age is not a number"]
    assert (age["rows"], age["count"]) == ("9-11, 32", 4)
    scale = [p for m, p in by_message.items() if m.startswith("G1 above 20")]
    assert scale and scale[0]["rows"] == "52-61" and scale[0]["count"] == 10
    assert "the scale of the new course bio" in scale[0]["message"]
    assert "PUT /api/v1/courses/bio" in scale[0]["message"]
    twice = [p for m, p in by_message.items() if m.startswith("the same StudentID")]
    assert twice and (twice[0]["rows"], twice[0]["count"]) == ("5, 62", 2)
    assert [p["row"] for p in body["problems"]] == sorted(p["row"] for p in body["problems"])
    assert len(body["problems"]) == 4 and "rows 2-41: AttendanceRate is outside 0 to 100" in body["detail"]
    assert "150" not in body["detail"] and counts(engine, settings) == before


def test_one_value_one_problem_and_no_library_text(client, default_period):
    # 120 is outside the catalog's range: said once, never also "empty".
    body = refused(post(client, b"user_id,course_id,FinalGrade\ns1,c,120\ns2,c,\n", "final-grades"), "invalid_values")
    assert [(p["row"], p["message"]) for p in body["problems"]] == [
        (2, "FinalGrade is outside 0 to 100"),
        (3, "FinalGrade is empty"),
    ]
    malformed = post(client, b"user_id,course_id\ns1,c\ns2,c,extra\n")
    assert malformed.status_code == 400
    text = malformed.text
    assert "tokenizing" not in text and "C error" not in text and "row 3 has 3 fields" in text
    bad_body = client.put("/api/v1/courses/c", json={"period_id": "default", "grade_max": "many", "pass_mark": 30})
    assert bad_body.status_code == 422
    messages = [p["message"] for p in bad_body.json()["problems"]]
    assert messages == ["grade_max must be a number"] and "Input should" not in bad_body.text
    mark = client.put("/api/v1/courses/c", json={"period_id": "default", "grade_max": 20, "pass_mark": 30})
    assert [p["message"] for p in mark.json()["problems"]] == ["pass_mark must be at most grade_max"]


# --- real-world formats -----------------------------------------------------------------------------------------


def test_decimal_commas_and_declared_date_formats(client, engine, store, default_period):
    european = (
        "user_id;course_id;AttendanceRate;quiz_avg;as_of_date\ns1;c;95,5;70;04/12/2025\ns2;c;80;61,25;05/12/2025\n"
    )
    answer = post(client, european.encode(), date_format="DD/MM/YYYY")
    assert answer.status_code == 202, answer.text
    assert any("decimal commas" in w for w in answer.json()["warnings"])
    apply_upload(engine, store, answer.json()["upload_id"])
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(
                student_records.c.user_id,
                student_records.c.attendance_rate,
                student_records.c.quiz_average,
                student_records.c.as_of_date,
            ).order_by(student_records.c.user_id)  # fmt: skip
        ).all()
    assert [tuple(r) for r in stored] == [("s1", 95.5, 70.0, date(2025, 12, 4)), ("s2", 80.0, 61.25, date(2025, 12, 5))]

    dotted = post(client, b"user_id;course_id;as_of_date\ns3;c;04.12.2025\n", date_format="DD.MM.YYYY")
    assert dotted.status_code == 202, dotted.text
    american = post(client, b"user_id,course_id,as_of_date,absences\ns4,c,12/04/2025,1\n", date_format="MM/DD/YYYY")
    assert american.status_code == 202, american.text
    # Declared for a ,-separated file whose numbers are quoted.
    declared = post(client, b'user_id,course_id,AttendanceRate\ns5,c,"88,5"\n', decimal_separator=",")
    assert declared.status_code == 202, declared.text


def test_an_ambiguous_date_or_number_is_refused_with_a_hint(client, default_period):
    ambiguous = refused(post(client, b"user_id,course_id,as_of_date\ns1,c,04/12/2025\n"), "invalid_values")
    [problem] = ambiguous["problems"]
    assert problem["column"] == "as_of_date" and "date_format=DD/MM/YYYY" in problem["message"]
    # A ;-separated file that also has decimal points: the comma is not guessed.
    mixed = refused(post(client, b"user_id;course_id;AttendanceRate\ns1;c;95,5\ns2;c;80.5\n"), "invalid_values")
    assert mixed["problems"][0]["message"].endswith("send decimal_separator=, with the upload")
    unknown = client.post(
        "/api/v1/uploads", files={"file": ("a.csv", b"user_id,course_id\ns1,c\n")}, data={"date_format": "YYYY/DD/MM"}
    )
    assert refused(unknown, "invalid_request")["problems"][0]["column"] == "date_format"


# --- nothing usable, nothing accepted ---------------------------------------------------------------------------


def test_a_file_with_nothing_usable_is_refused_with_suggestions(client, engine, settings, default_period):
    before = counts(engine, settings)
    content = b"UserID,Attendance,Quiz Score,ana@example.org\ns1,95,80,x\n"
    body = refused(post(client, content, course_id="bio"), "nothing_usable")
    by_column = {p["column"]: p["message"] for p in body["problems"]}
    assert "did you mean attendance_rate" in by_column["Attendance"]
    assert "did you mean quiz_average" in by_column["Quiz Score"]
    assert None in by_column and "example.org" not in body["detail"] + str(body["problems"])
    assert counts(engine, settings) == before
    # An enrolment list (ids alone) is still a roster.
    assert post(client, b"user_id,course_id\ns1,bio\n").status_code == 202


# --- preview ------------------------------------------------------------------------------------------------------


def test_dry_run_answers_what_would_happen_and_stores_nothing(client, engine, store, settings):
    declare_periods(engine, "t1", start=PAST_TERM[0], end=PAST_TERM[1])
    first = post(client, b"user_id,course_id,period_id,absences,age\ns1,bio,t1,1,19\ns2,bio,t1,0,20\n")
    apply_upload(engine, store, first.json()["upload_id"])
    before = counts(engine, settings)

    content = (
        b"user_id,course_id,period_id,absences,Attendence,Name\n"
        b"s1,bio,t1,1,90,Ana\ns2,bio,t1,4,80,Bo\ns3,chem,t1,0,70,Cy\n"
    )
    preview = post(client, content, dry_run="true")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["stored"] is False and body["rows"] == 3 and body["kind"] == "students"
    assert body["courses"] == [
        {"course_id": "bio", "period_id": "t1", "new": 0, "changed": 1, "unchanged": 1},
        {"course_id": "chem", "period_id": "t1", "new": 1, "changed": 0, "unchanged": 0},
    ]
    assert body["columns"] == ["user_id", "course_id", "period_id", "absences"]
    assert body["dropped_columns"] == ["Attendence", "Name"]
    assert list(body["suggested_columns"]) == ["Attendence"]  # the name is nobody's catalog column
    assert body["suggested_columns"]["Attendence"][0] == "attendance_rate"
    assert counts(engine, settings) == before

    grades = b"user_id,course_id,period_id,final_grade\ns1,bio,t1,14\n"
    graded = post(client, grades, "final-grades", dry_run="true")
    assert graded.status_code == 200 and graded.json()["courses"][0]["new"] == 1
    # A preview finds the same problems as the upload would.
    refused(post(client, b"user_id,course_id,period_id,age\ns1,bio,t9,x\n", dry_run="true"), "invalid_values")
    assert counts(engine, settings) == before
    # Then the same file is committed.
    assert post(client, content).status_code == 202


# --- courses and periods ----------------------------------------------------------------------------------------


def test_a_course_names_a_declared_period(client, engine):
    declare_periods(engine, "2026-autumn")
    body = {"period_id": "2026-autum", "grade_max": 100, "pass_mark": 50}
    typo = refused(client.put("/api/v1/courses/bio-103", json=body), "undeclared_period")
    [problem] = typo["problems"]
    assert problem["column"] == "period_id" and "did you mean 2026-autumn?" in problem["message"]
    assert client.get("/api/v1/courses").json() == []
    assert client.put("/api/v1/courses/bio-103", json={**body, "period_id": "2026-autumn"}).status_code == 201


def test_a_period_without_data_can_be_deleted(client, engine, store):
    declare_periods(engine, "2026-autumn", "2099-nope", "with-grades")
    assert client.delete("/api/v1/periods/2099-nope").status_code == 204
    assert sorted(p["period_id"] for p in client.get("/api/v1/periods").json()) == ["2026-autumn", "with-grades"]
    assert client.delete("/api/v1/periods/2099-nope").json()["error"] == "not_found"
    # A received upload (not yet applied) already names its period.
    post(client, b"user_id,course_id,age\ns1,bio,19\n", period_id="2026-autumn")
    held = client.delete("/api/v1/periods/2026-autumn")
    assert held.status_code == 409 and held.json()["error"] == "period_has_data"
    assert "uploads not yet applied (1)" in held.json()["detail"]
    grades = post(client, b"user_id,course_id,final_grade\ns1,bio,12\n", "final-grades", period_id="with-grades")
    apply_upload(engine, store, grades.json()["upload_id"])
    applied = client.delete("/api/v1/periods/with-grades")
    assert applied.status_code == 409 and "final_grades (1)" in applied.json()["detail"]
    assert set(applied.json()) == ERROR_KEYS


def test_thousands_of_undeclared_periods_and_courses_stay_one_short_answer(client, settings, default_period):
    settings.max_upload_courses = settings.max_upload_periods = 5000  # past the bound it is one line anyway
    rows = "".join(f"s{i},c{i},p{i},25\n" for i in range(3000))
    body = refused(post(client, f"user_id,course_id,period_id,G1\n{rows}".encode()), "invalid_values")
    messages = [p["message"] for p in body["problems"]]
    assert len(messages) == 22, messages  # ten periods and ten courses by name, then one line for the rest of each
    assert "2990 more periods that are not declared" in messages
    assert "G1 above the scale of 2990 more courses" in messages
