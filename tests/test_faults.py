"""Faults: the database restarted under a serving API, the API killed mid-upload, an ingestion run failing midway.

The PostgreSQL restart stops a server of the test's own (a throw-away cluster on a free port), never the shared one
that the tests running beside it use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import admin_token, bearer, declare_periods

from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.db.tables import final_grades, student_records, uploads
from passcompass_assets.core.ingest import apply
from passcompass_assets.core.ingest.apply import apply_upload
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.uploads import find_upload, receive_upload
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion import uploads_partitions
from passcompass_assets.instance import prepare_home
from passcompass_assets.operations import process_pending

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package
from benchmarks._common import (  # noqa: E402
    ApiServer,
    csv_bytes,
    declare_snapshot_period,
    free_port,
    snapshot_table,
)
from benchmarks.api_latency import COURSE, store_course_report  # noqa: E402

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


def check_stored(engine, landing: Path, *, adopted: bool = False) -> None:
    """Every uploads row has its complete landed file; nothing half-written lies in the landing store. With
    ``adopted``, every landed file also has its row (a file landed just before a kill is adopted by the retry)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(uploads.c.landing_sha256, uploads.c.rows)).all()
    for sha, count in rows:
        assert pq.read_metadata(landing / f"{sha}.parquet").num_rows == count
    names = {p.name for p in landing.iterdir()} if landing.exists() else set()
    assert all(n.endswith(".parquet") for n in names), f"half-written files: {names}"
    if adopted:
        assert names == {f"{sha}.parquet" for sha, _ in rows}


# --- (a) PostgreSQL restarted while the API serves -------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL server of the test's own, in a temporary folder on a free port, that it may stop and start."""

    def __init__(self) -> None:
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bindirs:
            message = "no PostgreSQL server binaries under /usr/lib/postgresql"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.bin = bindirs[-1].parent
        # PostgreSQL refuses to run as root; its folder must be one its user may enter (not pytest's 0700 tmp).
        self.owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.folder = Path(tempfile.mkdtemp(prefix="pc_test_own_postgres_"))
        if self.owner:
            shutil.chown(self.folder, "postgres")
        self.data = str(self.folder / "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, command: list[str]) -> None:
        program = [str(self.bin / command[0]), *command[1:]]
        subprocess.run([*self.owner, *program], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._pg(["initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"])

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(["pg_ctl", "-D", self.data, "-o", options, "-l", str(self.folder / "log"), "-w", "start"])

    def stop(self) -> None:
        self._pg(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.create()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.mark.postgres
def test_postgres_restart_answers_503_then_recovers_without_restarting_the_api(own_postgres, tmp_path):
    postgres, postgres_url, home = own_postgres, own_postgres.url, tmp_path / "home"
    store_course_report(postgres_url, home, 100)
    first, during, after = (csv_bytes(snapshot_table(100, courses=1, seed=s, user_prefix=f"f{s}-")) for s in (1, 2, 3))
    headers = bearer(admin_token(postgres_url))
    with (
        ApiServer(home, postgres_url) as server,
        httpx.Client(base_url=server.url, timeout=30, headers=headers) as client,
    ):
        assert client.post("/api/v1/uploads", files={"file": ("a.csv", first)}).status_code == 202
        landed_before = set((home / "landing").iterdir())
        try:
            postgres.stop()
            for method, url, kwargs in (
                ("GET", "/api/v1/health", {}),
                ("GET", "/api/v1/reports/latest", {"params": {"course_id": COURSE}}),
                ("GET", "/api/v1/uploads/nope", {}),
                ("POST", "/api/v1/uploads", {"files": {"file": ("b.csv", during)}}),
            ):
                started = time.monotonic()
                response = client.request(method, url, **kwargs)
                assert response.status_code == 503, (url, response.status_code, response.text[:300])
                assert response.json()["error"] == "database_unavailable"
                assert time.monotonic() - started < 10
            assert set((home / "landing").iterdir()) == landed_before  # the refused upload stored nothing
        finally:
            postgres.start()  # waits until it accepts connections
        # The same API process, its pool's dead connections replaced on checkout.
        deadline = time.monotonic() + 30
        while client.get("/api/v1/health").status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover"
            time.sleep(0.5)
        assert client.post("/api/v1/uploads", files={"file": ("b.csv", during)}).status_code == 202
        assert client.post("/api/v1/uploads", files={"file": ("c.csv", after)}).status_code == 202
        assert client.get("/api/v1/reports/latest", params={"course_id": COURSE}).status_code == 200
        assert server.process is not None and server.process.poll() is None


# --- (b) the API killed in the middle of an upload -------------------------------------------------------------


def _multipart(content: bytes, token: str) -> tuple[bytes, bytes]:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
    body = head + content + b"\r\n--b--\r\n"
    request = (
        b"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (token.encode(), len(body))
    )
    return request, body


@pytest.mark.slow
def test_api_killed_mid_upload_leaves_nothing_half_written(database_url, tmp_path):
    home = tmp_path / "home"
    content = csv_bytes(snapshot_table(300_000, courses=3, seed=7))  # 38 MB: read, validated and landed in seconds
    declare_snapshot_period(database_url)
    token = admin_token(database_url)
    request, body = _multipart(content, token)
    engine = get_engine(database_url)
    # Killed while the body streams in, then at moments while it is parsed, validated, landed and registered.
    for kill_after in (None, 0.2, 0.6, 1.0, 1.5, 2.5):
        server = ApiServer(home, database_url).start()
        assert server.process is not None
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            if kill_after is None:
                sock.sendall(request + body[: len(body) // 2])
            else:
                sock.sendall(request + body)
                time.sleep(kill_after)
            server.process.kill()
            server.process.wait()
        check_stored(engine, home / "landing")
    with ApiServer(home, database_url) as server:
        response = httpx.post(
            f"{server.url}/api/v1/uploads", files={"file": ("big.csv", content)}, headers=bearer(token), timeout=120
        )
        assert response.status_code in (200, 202), response.text  # 200: one kill came after the commit
        assert response.json()["rows"] == 300_000
    check_stored(engine, home / "landing", adopted=True)


# --- (c) an ingestion run that fails midway --------------------------------------------------------------------


def _state(engine) -> list[tuple]:
    with engine.connect() as conn:
        students = conn.execute(
            sa.select(student_records.c.user_id, student_records.c.absences, student_records.c.source_seq).order_by(
                student_records.c.user_id
            )
        ).all()
        grades = conn.execute(sa.select(sa.func.count()).select_from(final_grades)).scalar_one()
    return [*students, grades]


def _baseline_and_update(engine, store) -> str:
    """200 students applied with absences 1; then an upload setting them to 2, received. (Its transaction still
    writes student_records before final_grades: the upsert of final grades is called, with none.)"""
    rows = "".join(f"u{i},c,1\n" for i in range(200))
    apply_upload(engine, store, receive_upload(engine, store, f"user_id,course_id,absences\n{rows}".encode()).upload_id)
    update = "".join(f"u{i},c,2\n" for i in range(200))
    return receive_upload(engine, store, f"user_id,course_id,absences\n{update}".encode()).upload_id


def _run(upload_id: str) -> bool:
    """The ingestion job for one upload, in process (what a retry from the Dagster UI re-executes)."""
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(uploads_partitions.name, [upload_id])
        job = defs.resolve_job_def("ingest_upload")
        return job.execute_in_process(partition_key=upload_id, instance=instance, raise_on_error=False).success


def test_run_failing_midway_rolls_back_marks_failed_and_succeeds_on_retry(
    engine, store, settings, dagster_home, monkeypatch, default_period
):
    upload_id = _baseline_and_update(engine, store)
    before = _state(engine)
    upsert = apply.upsert

    def broken(conn, table, data, provenance, **kwargs):
        if table.name == "final_grades":  # student_records is already upserted in this transaction
            raise ConnectionResetError("injected: connection lost midway")
        upsert(conn, table, data, provenance, **kwargs)

    monkeypatch.setattr(apply, "upsert", broken)
    [result] = process_pending(settings)
    assert result.status == "failed" and "injected: connection lost midway" in str(result.error)
    assert _state(engine) == before  # the student_records half was rolled back with the rest

    monkeypatch.setattr(apply, "upsert", upsert)
    assert _run(upload_id)
    assert find_upload(engine, upload_id).status == "processed"
    after = _state(engine)
    assert {row[1] for row in after[:-1]} == {2} and after[-1] == 0  # student data never carries final grades


def test_run_with_the_database_unreachable_changes_nothing_and_succeeds_on_retry(
    engine, store, settings, dagster_home, monkeypatch, default_period
):
    upload_id = _baseline_and_update(engine, store)
    before = _state(engine)
    prepare_home(settings)  # what process_pending does first: the Dagster instance under home
    monkeypatch.setenv("PASSCOMPASS_DATABASE_URL", DEAD_DATABASE)  # what the run's PlatformResource reads
    started = time.monotonic()
    assert not _run(upload_id)
    assert time.monotonic() - started < 120
    monkeypatch.setenv("PASSCOMPASS_DATABASE_URL", settings.db_url)
    # Unreachable, the database could not be told: the upload is still waiting, and nothing changed.
    assert find_upload(engine, upload_id).status == "received"
    assert _state(engine) == before
    assert [(u.upload_id, u.status, u.error) for u in process_pending(settings)] == [(upload_id, "processed", None)]
    assert {row[1] for row in _state(engine)[:-1]} == {2}


def test_run_with_an_unreadable_landed_file_is_marked_failed_and_succeeds_on_retry(
    engine, store, settings, dagster_home, default_period
):
    upload_id = _baseline_and_update(engine, store)
    before = _state(engine)
    landed = store.path_for(find_upload_sha(engine, upload_id))
    kept = landed.with_suffix(".kept")
    shutil.copy(landed, kept)
    landed.write_bytes(b"not parquet")
    [result] = process_pending(settings)
    assert result.status == "failed" and result.error, result
    assert _state(engine) == before
    shutil.move(kept, landed)
    assert _run(upload_id)
    assert find_upload(engine, upload_id).status == "processed"
    assert {row[1] for row in _state(engine)[:-1]} == {2}


def test_run_retried_after_a_newer_upload_keeps_the_newer_state(engine, store, default_period):
    """A run fails, a newer upload blanks a cell and is applied, then the failed run is retried: the state is the
    newer upload's (the blank stays), as if both had been applied in arrival order."""
    older = receive_upload(engine, store, b"user_id,course_id,absences,age\nu1,c,5,17\nu2,c,1,18\n")
    newer = receive_upload(engine, store, b"user_id,course_id,absences\nu1,c,\n")
    apply_upload(engine, store, newer.upload_id)
    apply_upload(engine, store, older.upload_id)  # the retry
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(student_records.c.user_id, student_records.c.absences, student_records.c.age).order_by(
                student_records.c.user_id
            )
        ).all()
    assert rows == [("u1", None, 17), ("u2", 1, 18)]


def test_three_uploads_applied_in_any_order_end_as_in_arrival_order(engine, store, default_period):
    contents = [
        b"user_id,course_id,absences,age\nu1,c,1,17\n",
        b"user_id,course_id,absences\nu1,c,2\n",
        b"user_id,course_id,age,absences\nu1,c,19,\n",
    ]
    received = [receive_upload(engine, store, content) for content in contents]
    for index in (2, 0, 1):
        apply_upload(engine, store, received[index].upload_id)
    with engine.connect() as conn:
        row = conn.execute(sa.select(student_records.c.absences, student_records.c.age)).one()
    assert tuple(row) == (None, 19)


def find_upload_sha(engine, upload_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.select(uploads.c.landing_sha256).where(uploads.c.upload_id == upload_id)).scalar_one()


@pytest.mark.postgres
def test_fast_path_meeting_an_existing_row_falls_back_to_the_merge(postgres_url, tmp_path):
    """The direct ``COPY`` (all courses new) is only an optimisation: rows that exist after all (here, their course
    registration was deleted) make the primary key refuse it, and the merge path applies the upload correctly."""
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.db.tables import courses

    upgrade(postgres_url)
    engine = get_engine(postgres_url)
    declare_periods(engine, "default")
    store = LandingStore(tmp_path / "landing")
    apply_upload(engine, store, receive_upload(engine, store, b"user_id,course_id,age,absences\nu1,c,17,1\n").upload_id)
    with engine.begin() as conn:
        conn.execute(courses.delete())
    later = receive_upload(engine, store, b"user_id,course_id,absences\nu1,c,5\nu2,c,0\n")
    apply_upload(engine, store, later.upload_id)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(student_records.c.user_id, student_records.c.age, student_records.c.absences).order_by(
                student_records.c.user_id
            )
        ).all()
    assert rows == [("u1", 17, 5), ("u2", None, 0)]
