"""Ingestion through Dagster on SQLite and PostgreSQL: sensors and their cursors, runs, upserts, privacy."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from passcompass_assets.core.db.tables import final_grades, student_records, uploads
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.uploads import find_upload, receive_upload
from passcompass_assets.core.logs import JsonFormatter
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion import inbox_sensor, upload_sensor
from passcompass_assets.operations import process_pending
from passcompass_assets.resources import PlatformResource


def records(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(student_records).order_by(student_records.c.user_id), conn)


def test_upload_sensor_requests_each_received_upload_until_applied(engine, store, settings, default_period):
    first = receive_upload(engine, store, b"user_id,course_id\na,c\n")
    second = receive_upload(engine, store, b"user_id,course_id\nb,c\n")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()})
        result = upload_sensor(context)
        assert [r.partition_key for r in result.run_requests] == [first.upload_id, second.upload_id]
        assert [r.run_key for r in result.run_requests] == [
            f"ingest:{first.upload_id}#1",
            f"ingest:{second.upload_id}#1",
        ]
        assert result.dynamic_partitions_requests[0].partition_keys == [first.upload_id, second.upload_id]
        # No cursor: what decides is whether each upload is applied. Run the first; only the second is asked again.
        instance.add_dynamic_partitions("uploads", [first.upload_id])
        job = defs.resolve_job_def("ingest_upload")
        request = result.run_requests[0]
        assert job.execute_in_process(partition_key=first.upload_id, instance=instance, tags=request.tags).success
        later = upload_sensor(dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()}))
        assert [r.partition_key for r in later.run_requests] == [second.upload_id]


def test_inbox_sensor_never_follows_a_symbolic_link(engine, settings, tmp_path, default_period):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_bytes(b"user_id,course_id,absences\nu1,c,3\n")
    (settings.inbox_dir / "link.csv").symlink_to(elsewhere)
    with dg.instance_for_test() as instance:
        inbox_sensor(dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()}))
    error = json.loads((settings.inbox_dir / "rejected" / "link.csv.error.json").read_text())
    assert error["error"] == "not_a_file" and elsewhere.exists() and not (settings.inbox_dir / "link.csv").exists()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == 0


def test_inbox_sensor_registers_and_rejects(engine, settings, default_period):
    (settings.inbox_dir / "week1.csv").write_bytes(b"user_id,course_id,Name,absences\nu1,c,Ana Lima,3\n")
    (settings.inbox_dir / "broken.csv").write_bytes(b"user_id,course_id,absences\nu1,c,many\n")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"platform": PlatformResource()})
        inbox_sensor(context)
    assert not (settings.inbox_dir / "week1.csv").exists()
    rejected = settings.inbox_dir / "rejected"
    assert not (settings.inbox_dir / "broken.csv").exists() and not (rejected / "broken.csv").exists()
    error = json.loads((rejected / "broken.csv.error.json").read_text())
    assert error["error"] == "invalid_values" and error["problems"][0] == {
        "row": 2,
        "column": "absences",
        "message": "absences is not a number",
    }
    process_pending(settings)
    assert records(engine)["absences"].tolist() == [3]


def test_process_pending_runs_the_job(engine, store, settings, dagster_home, default_period):
    receipt = receive_upload(engine, store, b"user_id,course_id,age,G1\nu1,c,17,12\nu2,c,19,7\n")
    grades = receive_upload(engine, store, b"user_id,course_id,G3\nu1,c,15\nu2,c,6\n", kind="final_grades")
    results = process_pending(settings)
    assert [(u.upload_id, u.status, u.error) for u in results] == [
        (receipt.upload_id, "processed", None),
        (grades.upload_id, "processed", None),
    ]
    assert records(engine)["age"].tolist() == [17, 19]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(final_grades)).scalar_one() == 2
    # The Dagster instance recorded materialisations and the checks' results.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("student_records"))
        assert event is not None and event.asset_materialization.partition == grades.upload_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("student_records"), "catalog_expectations")]
        )
        assert check


@pytest.mark.slow
def test_uci_portuguese_upload_lands_649_rows(client, engine, settings, uci_dir, dagster_home, default_period):
    frame = pd.read_csv(uci_dir / "student-por.csv", sep=";", dtype=str)
    frame.insert(0, "user_id", [f"por-{i:04d}" for i in range(len(frame))])
    content = frame.to_csv(sep=";", index=False).encode()
    response = client.post(
        "/api/v1/uploads", files={"file": ("por.csv", content, "text/csv")}, data={"course_id": "uci-portuguese"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["rows"] == 649
    # The export's final grades (G3) are not stored from student data: the same file goes to their route.
    assert "G3" in response.json()["dropped_columns"]
    grades = client.post(
        "/api/v1/final-grades", files={"file": ("por.csv", content, "text/csv")}, data={"course_id": "uci-portuguese"}
    )
    assert grades.status_code == 202, grades.text
    process_pending(settings)
    status = client.get(f"/api/v1/uploads/{response.json()['upload_id']}").json()
    assert status["status"] == "processed"
    current = records(engine)
    assert len(current) == 649
    with engine.connect() as conn:
        grades = pd.read_sql(sa.select(final_grades), conn)
    assert round(grades["final_grade"].mean(), 3) == 11.906


def test_latest_upload_wins_column_by_column_and_replay_changes_nothing(engine, store, default_period):
    old = receive_upload(engine, store, b"user_id,course_id,age,absences\nu1,c,17,2\nu2,c,18,0\n")
    new = receive_upload(engine, store, b"user_id,course_id,absences\nu1,c,5\n")
    # Processed out of order: the newer upload first, then the older one, then the newer one again.
    apply_upload(engine, store, new.upload_id)
    apply_upload(engine, store, old.upload_id)
    apply_upload(engine, store, new.upload_id)
    current = records(engine).set_index("user_id")
    assert current.loc["u1", "absences"] == 5 and current.loc["u1", "age"] == 17
    assert current.loc["u2", "absences"] == 0
    before = records(engine).drop(columns="updated_at")
    apply_upload(engine, store, new.upload_id)
    pd.testing.assert_frame_equal(before, records(engine).drop(columns="updated_at"))


def test_concurrent_overlapping_uploads_end_in_later_state(engine, store, default_period):
    students = 2000
    rows = lambda value: "user_id,course_id,absences\n" + "".join(f"u{i},c,{value}\n" for i in range(students))  # noqa: E731
    earlier = receive_upload(engine, store, rows(1).encode())
    later = receive_upload(engine, store, rows(2).encode())
    errors: list[BaseException] = []

    def apply(upload_id: str) -> None:
        try:
            apply_upload(engine, store, upload_id)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(u,)) for u in (later.upload_id, earlier.upload_id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    current = records(engine)
    assert len(current) == students and set(current["absences"]) == {2}


def test_no_personal_data_anywhere(client, engine, settings, dagster_home, default_period):
    """Not in the landing store, the database, Dagster's storage, or any JSON log line of the API and the runs."""
    log_lines = io.StringIO()
    handler = logging.StreamHandler(log_lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("passcompass").addHandler(handler)
    content = (
        b"user_id,course_id,Name,Email,Phone,age\ns1,c,Zebulon Quixotic,zebulon.q@example.org,+1 555 0100 777,17\n"
    )
    response = client.post("/api/v1/uploads", files={"file": ("Zebulon.csv", content, "text/csv")})
    assert response.status_code == 202
    assert find_upload(engine, response.json()["upload_id"]) is not None
    process_pending(settings)
    needles = [b"Zebulon", b"Quixotic", b"example.org", b"555 0100"]
    for path in [*Path(settings.resolved_home).rglob("*"), *Path(dagster_home).rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"personal data found in {path}"
    dump = database_dump(engine)
    assert not any(n.decode() in dump for n in needles)
    logging.getLogger("passcompass").removeHandler(handler)
    lines = log_lines.getvalue().splitlines()
    assert any(json.loads(line).get("upload_id") == response.json()["upload_id"] for line in lines)
    assert not any(n.decode() in line for line in lines for n in needles)


def database_dump(engine) -> str:
    """Every value of every table, as text."""
    parts = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            parts.append(pd.read_sql(sa.text(f'SELECT * FROM "{table}"'), conn).to_csv())
    return "\n".join(parts)


@pytest.mark.slow
def test_definitions_validate():
    assert defs.resolve_job_def("ingest_upload") is not None
    completed = subprocess.run(
        [Path(sys.executable).parent / "dagster", "definitions", "validate", "-m", "passcompass_assets.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
