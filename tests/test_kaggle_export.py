"""The client's own first export (``../shared/data/kaggle/student_performance_1000.csv``) end to end, on SQLite and
PostgreSQL: its first upload answers every problem at once, grouped; after the fixes the answer asks for
(de-duplicate, set the course's scale, declare the period; the name column is dropped by itself) it uploads."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import declare_periods

from passcompass_assets.core.db.tables import final_grades, student_records
from passcompass_assets.core.ingest.apply import apply_upload

KAGGLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaggle" / "student_performance_1000.csv"
FORM = {"course_id": "bio-101", "period_id": "2026-autum"}  # the term's name mistyped


@pytest.fixture
def export() -> bytes:
    if not KAGGLE.exists():
        pytest.skip(f"the client's Kaggle export is not at {KAGGLE} (see ../shared/data/README.md)")
    return KAGGLE.read_bytes()


def post(client, route: str, content: bytes, **form: str):
    return client.post(f"/api/v1/{route}", files={"file": ("export.csv", content, "text/csv")}, data=form)


def test_the_clients_export_from_first_answer_to_upload(client, engine, store, export):
    today = date.today()
    declare_periods(engine, "2026-autumn", start=today - timedelta(weeks=12), end=today + timedelta(weeks=2))
    frame = pd.read_csv(io.BytesIO(export), dtype=str)
    repeated = int(frame["StudentID"].duplicated(keep=False).sum())
    names = frame["Name"].head(20).tolist()

    # Student data: every problem at once (the mistyped period, the repeated students), grouped.
    first = post(client, "uploads", export, **FORM)
    assert first.status_code == 422, first.text
    problems = first.json()["problems"]
    assert [p["column"] for p in problems] == ["period_id", "StudentID"]
    assert "did you mean 2026-autumn?" in problems[0]["message"]
    assert problems[1]["count"] == repeated and problems[1]["message"].startswith("the same StudentID")
    assert not any(name in first.text for name in names)

    # Its final grades: also above the new course's default scale, in one line naming the fix.
    grades = post(client, "final-grades", export, **FORM)
    assert grades.status_code == 422
    by_column = {p["column"]: p for p in grades.json()["problems"]}
    assert set(by_column) == {"period_id", "FinalGrade", "StudentID"}
    scale = by_column["FinalGrade"]
    assert (scale["rows"], scale["count"]) == (f"2-{len(frame) + 1}", len(frame))
    assert scale["message"] == (
        "FinalGrade above 20, the scale of the new course bio-101; set the course's scale on its page or with "
        "PUT /api/v1/courses/bio-101"
    )

    # The fixes it asked for.
    fixed = frame.drop_duplicates("StudentID").to_csv(index=False).encode()
    course = {"period_id": "2026-autumn", "grade_max": 100, "pass_mark": 50, "title": "Biology 101"}
    assert client.put("/api/v1/courses/bio-101", json=course).status_code == 201
    form = {**FORM, "period_id": "2026-autumn"}
    students = post(client, "uploads", fixed, **form)
    assert students.status_code == 202, students.text
    body = students.json()
    assert {"Name", "FinalGrade"} <= set(body["dropped_columns"])
    assert any("POST /api/v1/final-grades" in w for w in body["warnings"])
    early = post(client, "final-grades", fixed, **form)
    assert early.status_code == 422 and early.json()["error"] == "period_not_ended"
    labels = post(client, "final-grades", fixed, **form, confirm_before_end="true")
    assert labels.status_code == 202, labels.text

    for answer in (students, labels):
        apply_upload(engine, store, answer.json()["upload_id"])
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(student_records)).scalar_one()
        graded = conn.execute(sa.select(sa.func.max(final_grades.c.final_grade))).scalar_one()
        dump = str(conn.execute(sa.select(student_records)).all())
    assert stored == frame["StudentID"].nunique() and graded == pytest.approx(92.0)
    assert not any(name in dump for name in names)
