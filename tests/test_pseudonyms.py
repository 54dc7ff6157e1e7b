"""Pseudonymous ids: with a key set, an institution's user ids never reach the platform's storage; the key's
holder finds a student by computing the same keyed hash, and erasure by the institution's id still works."""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from conftest import admin_token, bearer, declare_periods
from fastapi.testclient import TestClient

from passcompass_api.main import create_app
from passcompass_assets.core.db.tables import final_grades, record_versions, student_records
from passcompass_assets.core.ingest import apply
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.privacy.erasure import erase_student
from passcompass_assets.core.settings import Settings

KEY = "the-institution-keeps-this-key"
CSV = (
    b"user_id,course_id,period_id,as_of_date,absences\n"
    b"stu-40417,math,2026-autumn,2026-10-01,3\nstu-40418,math,2026-autumn,2026-10-01,1\n"
)
GRADES = b"user_id,course_id,period_id,final_grade\nstu-40417,math,2026-autumn,12\n"


def _expected(user_id: str) -> str:
    return "p-" + hmac.new(KEY.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def _stored_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {
            user_id
            for table in (student_records, record_versions, final_grades)
            for user_id in conn.execute(sa.select(table.c.user_id)).scalars()
        }


def test_ids_are_pseudonymised_at_ingestion_and_erasure_finds_them(
    settings: Settings, engine: sa.Engine, store: LandingStore
) -> None:
    declare_periods(engine, "2026-autumn")
    keyed = settings.model_copy(update={"pseudonym_key": KEY})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as client:
        client.headers.update(bearer(admin_token(settings.db_url)))
        for path, content in (("/api/v1/uploads", CSV), ("/api/v1/final-grades", GRADES)):
            answer = client.post(path, files={"file": ("a.csv", content)})
            assert answer.status_code == 202, answer.text
            apply.apply_upload(engine, store, answer.json()["upload_id"])

    assert _stored_ids(engine) == {_expected("stu-40417"), _expected("stu-40418")}
    landed = b"".join(p.read_bytes() for p in settings.landing_dir.rglob("*") if p.is_file())
    assert b"stu-4041" not in landed and _expected("stu-40418").encode() in landed
    every = sa.MetaData()
    every.reflect(engine)
    assert len(every.tables) > 10
    with engine.connect() as conn:
        for table in every.tables.values():
            assert "stu-4041" not in str(conn.execute(sa.select(table)).all()), table.name

    # The institution erases by its own id; the other student stays.
    erasure = erase_student(keyed, engine, "stu-40417", actor="tests")
    assert erasure.counts
    assert _stored_ids(engine) == {_expected("stu-40418")}
    # Erasing by the pseudonym a report shows works too (and finds nothing more now).
    erase_student(keyed, engine, _expected("stu-40417"), actor="tests")
    assert _stored_ids(engine) == {_expected("stu-40418")}


def test_without_a_key_ids_are_kept_as_received(engine: sa.Engine, client: TestClient, store: LandingStore) -> None:
    declare_periods(engine, "2026-autumn")
    answer = client.post("/api/v1/uploads", files={"file": ("a.csv", CSV)})
    apply.apply_upload(engine, store, answer.json()["upload_id"])
    assert _stored_ids(engine) == {"stu-40417", "stu-40418"}
