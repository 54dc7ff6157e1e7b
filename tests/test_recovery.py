"""Nothing accepted is ever stuck: a run whose worker dies is noticed and retried, a platform killed mid-run
resumes the work when it starts again, and work that keeps failing ends ``failed`` with one alert.

The first starts the real platform (``passcompass run --no-demo``: the API, ``dagster dev`` with its daemon)
on SQLite and on PostgreSQL and kills processes with SIGKILL, as an out-of-memory kill or a lost node would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from conftest import admin_token, alert_on_run_failure, bearer

from passcompass_assets.core.db.engine import get_engine, with_driver
from passcompass_assets.core.db.tables import student_records
from passcompass_assets.core.ingest.uploads import find_upload, receive_upload
from passcompass_assets.definitions import defs
from passcompass_assets.ingestion import upload_sensor
from passcompass_assets.resources import PlatformResource
from passcompass_assets.work import WORK_TAG

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package
from benchmarks._common import csv_bytes, declare_snapshot_period, free_port, snapshot_table  # noqa: E402

# Enough that applying them takes a few seconds (about 2.5 s on SQLite, 2 s on PostgreSQL on a quiet 2-core
# machine), against the few tenths of a second between the apply step's start and the kill; each kill is checked to
# have found its upload unapplied, so a kill that came too late fails instead of passing untested.
ROWS = 150_000
RECOVERY_BOUND = 90  # seconds from the kill to the upload applied (detection, back-off, a second run)


@dataclass
class Platform:
    """``passcompass run --no-demo`` in a process group of its own, on a home and database of the test's."""

    home: Path
    env: dict[str, str]
    api_port: int
    dagster_port: int
    process: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] | None = None  # an admin's token, once the platform has migrated its database

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> Platform:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "run.log", "ab")  # noqa: SIM115 - open for the process's lifetime
        since = log.tell()
        command = [str(Path(sys.executable).parent / "passcompass"), "run", "--no-demo"]
        command += ["--port", str(self.api_port), "--dagster-port", str(self.dagster_port)]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if b"ready." in (self.home / "run.log").read_bytes()[since:]:
                self.headers = self.headers or bearer(admin_token(self.env["PASSCOMPASS_DATABASE_URL"]))
                return self
            assert self.process.poll() is None, self.log_tail()
            time.sleep(0.5)
        pytest.fail(f"the platform did not start: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to every process the platform started (its children run in process groups of their own)."""
        kill_all([*descendants(self.process.pid), self.process.pid])
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in [self.home / "run.log", *sorted((self.home / "logs").glob("*.log"))]
            if p.exists()
        )


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children first looked up by their parent)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def platform(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PASSCOMPASS_HOME": str(home),
        "PASSCOMPASS_DATABASE_URL": database_url,
        "PASSCOMPASS_INITIAL_DATA": "none",
        "PASSCOMPASS_RETRY_BACKOFF_SECONDS": "2",
        "PASSCOMPASS_UPLOAD_POLL_SECONDS": "1",  # the sensor on every daemon loop (5 s), not every other one
        "DAGSTER_HOME": str(home / "dagster"),
    }
    env.pop("DAGSTER_PG_URL", None)
    if database_url.startswith("postgresql"):  # the test reads the platform's Dagster instance too
        monkeypatch.setenv("DAGSTER_PG_URL", with_driver(database_url))
    platform = Platform(home, env, free_port(), free_port())
    declare_snapshot_period(database_url)  # the uploads' term (the database is migrated by the fixture)
    yield platform
    platform.stop()
    if platform.process:
        kill_all(descendants(platform.process.pid))


def upload(platform: Platform, students: str) -> str:
    """``ROWS`` new students (user ids beginning with ``students``), so each upload adds rows of its own."""
    response = httpx.post(
        f"{platform.api}/api/v1/uploads",
        files={"file": ("big.csv", csv_bytes(snapshot_table(ROWS, user_prefix=students)))},
        headers=platform.headers,
        timeout=120,
    )
    assert response.status_code == 202, response.text
    return response.json()["upload_id"]


def wait_for_apply_to_start(platform: Platform, upload_id: str, timeout: float = 120) -> float:
    """Until the upload's run is applying it (its ``apply_uploads`` step started); returns when it started (epoch
    seconds)."""
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(platform.env["DAGSTER_HOME"]) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={WORK_TAG: f"ingest:{upload_id}"}))
            for run in runs:
                starts = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
                for record in starts:
                    if record.event_log_entry.step_key == "apply_uploads":
                        return record.event_log_entry.timestamp
            time.sleep(0.1)
    pytest.fail(f"the upload's run never started applying it: {platform.log_tail()}")


def assert_killed_mid_apply(database_url: str, upload_id: str, killed_after: float, stored_before: int) -> None:
    """The kill came before the apply's transaction committed: the upload still waits and none of its rows is
    stored, so what follows tests recovery (a kill after the commit would leave nothing to recover)."""
    assert find_upload(get_engine(database_url), upload_id).status == "received", "the kill came after the apply"
    assert stored_rows(database_url) == stored_before
    print(f"\nkilled {killed_after:.2f} s after the apply step started")


def wait_until_processed(platform: Platform, upload_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{platform.api}/api/v1/uploads/{upload_id}", headers=platform.headers, timeout=10).json()
        if status["status"] != "received":
            return status
        time.sleep(0.5)
    pytest.fail(f"upload still {status.get('status')} after {timeout} s: {platform.log_tail()}")


def stored_rows(database_url: str) -> int:
    with get_engine(database_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(student_records)).scalar_one()


@pytest.mark.slow
def test_work_cut_short_by_a_killed_worker_or_platform_is_finished(platform: Platform, database_url: str) -> None:
    """One platform, two kills: first a run's worker (the run is noticed and retried), then the whole platform
    (the work finishes after a restart)."""
    platform.start()
    first = upload(platform, students="u")
    apply_started = wait_for_apply_to_start(platform, first)
    # The code server (`dagster api grpc`) runs each run in a process it spawns with multiprocessing.
    servers = [p for p in descendants(platform.process.pid) if "dagster api grpc" in command_line(p)]
    workers = [p for s in servers for p in descendants(s) if "multiprocessing.spawn" in command_line(p)]
    assert workers, "no run worker found"
    kill_all(workers)
    killed, killed_after = time.monotonic(), time.time() - apply_started
    assert_killed_mid_apply(database_url, first, killed_after, stored_before=0)
    status = wait_until_processed(platform, first, RECOVERY_BOUND)
    assert status["status"] == "processed", status
    assert stored_rows(database_url) == ROWS
    print(f"\nworker killed mid-apply: upload processed {time.monotonic() - killed:.1f} s later")

    second = upload(platform, students="v")
    apply_started = wait_for_apply_to_start(platform, second)
    platform.kill()
    assert_killed_mid_apply(database_url, second, time.time() - apply_started, stored_before=ROWS)
    restarted = time.monotonic()
    platform.start()
    status = wait_until_processed(platform, second, RECOVERY_BOUND)
    assert status["status"] == "processed", status
    assert stored_rows(database_url) == 2 * ROWS
    print(f"\nplatform killed mid-run: upload processed {time.monotonic() - restarted:.1f} s after the restart")


def test_work_that_keeps_failing_ends_failed_with_one_alert(
    engine, store, settings, webhook, monkeypatch, default_period
) -> None:
    """The upload sensor and the run-failure alert, evaluated as the daemon would, the runs executed in process:
    three attempts with a back-off between them, then ``failed`` with the reason, one alert, nothing more."""
    (host, port), alerts = webhook
    monkeypatch.setenv("PASSCOMPASS_ALERT_WEBHOOK_URL", f"http://{host}:{port}/hook")
    monkeypatch.setenv("PASSCOMPASS_RETRY_BACKOFF_SECONDS", "1")
    received = receive_upload(engine, store, b"user_id,course_id,absences\nu1,c,3\n")
    store.path_for(received.landing_sha256).write_bytes(b"not parquet")  # every attempt fails to read it
    job = defs.resolve_job_def("ingest_upload")
    resources = {"platform": PlatformResource()}
    runs = []
    with dg.instance_for_test() as instance:
        for _ in range(20):
            tick = upload_sensor(dg.build_sensor_context(instance=instance, resources=resources))
            if find_upload(engine, received.upload_id).status == "failed":
                break
            if not tick.run_requests:
                time.sleep(0.5)  # the back-off after a failure
                continue
            [request] = tick.run_requests
            instance.add_dynamic_partitions("uploads", [received.upload_id])
            result = job.execute_in_process(
                partition_key=received.upload_id, instance=instance, tags=request.tags, raise_on_error=False
            )
            assert not result.success
            alert_on_run_failure(instance, result)
            runs.append(request.run_key)
            # Right after a failure the back-off holds the next attempt back.
            assert not upload_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
    upload_status = find_upload(engine, received.upload_id)
    assert runs == [f"ingest:{received.upload_id}#{n}" for n in (1, 2, 3)]
    assert upload_status.status == "failed" and "after 3 attempt(s)" in str(upload_status.error)
    assert [a["event"] for a in alerts] == ["run_failure"]
