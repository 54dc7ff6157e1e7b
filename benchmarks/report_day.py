"""A report day at university scale: every course's report requested at once from a running platform.

    .venv/bin/python -m benchmarks.report_day [--courses 1000] [--students 40] [--database sqlite|postgres]
        [--data /path/to/uci] [--train-rows N]

Set-up (not timed): a fresh home and database, a champion trained on the UCI data (``train_and_gate``, as the
scoring benchmark does), ``--courses`` courses of ``--students`` students (plus one more course for the on-demand
request) uploaded and applied. Timed: the platform as ``passcompass run --no-demo`` starts it (API, Dagster daemon,
sensors, the queued run coordinator of ``dagster.yaml`` or ``deploy/dagster.yaml``), every course's report
requested through ``POST /api/v1/reports``; printed: the wall time from the first request to the last report
stored, p50/p95 from a request to its report, the time to one on-demand request posted once half the reports are
stored, the platform's peak memory (all its processes), and the time the Dagster UI's answer about the report
asset takes. Baseline in the same run: the same courses' reports made in process by the scoring benchmark's path
(``benchmarks/score.py``: score, build, store the files) in 2 worker processes.
Targets: at most 3x the baseline; 5,000 courses x 40 students under 10 minutes on SQLite; the on-demand report
within 60 s; the UI's answer within 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from benchmarks._common import (
    PASSCOMPASS,
    ROOT,
    SNAPSHOT_PERIOD,
    TARGET_MISSED,
    csv_bytes,
    declare_snapshot_period,
    free_port,
    fresh_home,
    machine_note,
    percentile,
    print_table,
    snapshot_frame,
)
from benchmarks.score import UCI_DIR, _report_in_worker, _start_worker

RATIO_TARGET = 3.0
ON_DEMAND_TARGET = 60.0
UI_TARGET = 5.0
FIVE_THOUSAND_TARGET = 600.0
ON_DEMAND_COURSE = "course-on-demand"
MAX_COURSES_PER_FILE = 2000  # PASSCOMPASS_MAX_UPLOAD_COURSES


def prepare(home: Path, database_url: str, courses: int, students: int, data: Path, train_rows: int | None) -> None:
    """Schema, the champion, and every course's students applied (as processed uploads)."""
    from passcompass_assets.core.datasets.uci import load_uci_dir
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import UploadPolicy
    from passcompass_assets.core.ml.training import train_and_gate
    from passcompass_assets.core.settings import Settings
    from passcompass_assets.operations import process_pending

    settings = Settings(home=home, database_url=database_url)
    settings.ensure_dirs()
    upgrade(database_url)
    declare_snapshot_period(database_url)
    uci = load_uci_dir(data)
    if train_rows:
        uci = uci.groupby("course_id", group_keys=False).sample(n=train_rows, random_state=0)
    train_and_gate(uci, settings, n_repeats=1)
    frame = roster(courses, students)
    engine, store, policy = (
        get_engine(database_url),
        LandingStore(settings.landing_dir),
        UploadPolicy.from_settings(settings),
    )
    names = sorted(frame["course_id"].unique())
    for start in range(0, len(names), MAX_COURSES_PER_FILE):
        part = frame[frame["course_id"].isin(names[start : start + MAX_COURSES_PER_FILE])]
        policy.receive(engine, store, csv_bytes(part), source="benchmark")
    # The jobs' resources read the platform's settings from the environment, as in a deployment.
    os.environ.update(
        PASSCOMPASS_HOME=str(home), PASSCOMPASS_DATABASE_URL=database_url, DAGSTER_HOME=str(home / "dagster")
    )
    failed = [u.upload_id for u in process_pending(settings) if u.status != "processed"]
    if failed:
        raise SystemExit(f"set-up uploads failed: {failed}")


def roster(courses: int, students: int) -> pd.DataFrame:
    """``courses`` x ``students`` generated students, and the on-demand course's."""
    frame = snapshot_frame((courses + 1) * students, courses=courses + 1)
    return frame.assign(course_id=frame["course_id"].replace({f"course-{courses}": ON_DEMAND_COURSE}))


@dataclass
class Platform:
    """``passcompass run --no-demo`` in a process group of its own, and the peak memory of its processes."""

    home: Path
    database_url: str
    api_port: int = 0
    dagster_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    peak_mb: float = 0.0
    _watching: bool = False

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dagster(self) -> str:
        return f"http://127.0.0.1:{self.dagster_port}"

    def start(self, timeout: float = 180) -> Platform:
        self.api_port, self.dagster_port = free_port(), free_port()
        env = {
            **os.environ,
            "PASSCOMPASS_HOME": str(self.home),
            "PASSCOMPASS_DATABASE_URL": self.database_url,
            "PASSCOMPASS_INITIAL_DATA": "none",
            "DAGSTER_HOME": str(self.home / "dagster"),
            # Every course's request arrives at once: the rate limit guards people, not this benchmark.
            "PASSCOMPASS_REPORT_REQUEST_RATE_PER_MINUTE": "1000000",
        }
        log = (self.home / "run.log").open("ab")
        command = [str(PASSCOMPASS), "run", "--no-demo", "--port", str(self.api_port)]
        command += ["--dagster-port", str(self.dagster_port)]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready." in (self.home / "run.log").read_bytes():
                self._watching = True
                threading.Thread(target=self._watch_memory, daemon=True).start()
                return self
            if self.process.poll() is not None:
                raise SystemExit(f"the platform exited: {self.log_tail()}")
            time.sleep(0.5)
        raise SystemExit(f"the platform did not start: {self.log_tail()}")

    def _watch_memory(self) -> None:
        while self._watching and self.process is not None:
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.process.pid))
            time.sleep(1)

    def stop(self) -> None:
        self._watching = False
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self) -> str:
        return (self.home / "run.log").read_text(errors="replace")[-3000:]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(parents.get(current, []))
        with contextlib.suppress(OSError, ValueError):
            for line in (Path("/proc") / str(current) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def admin_headers(database_url: str) -> dict[str, str]:
    from passcompass_assets.core.access.tokens import create_token
    from passcompass_assets.core.db.engine import get_engine

    return {"Authorization": f"Bearer {create_token(get_engine(database_url), 'admin', label='report day').token}"}


def request(client: httpx.Client, course_id: str) -> str:
    response = client.post("/api/v1/reports", params={"course_id": course_id, "period_id": SNAPSHOT_PERIOD})
    if response.status_code != 202:
        raise SystemExit(f"POST /api/v1/reports for {course_id}: {response.status_code} {response.text[:300]}")
    return str(response.json()["request_id"])


def finished(database_url: str) -> pd.DataFrame:
    """Every request and, once finished, its report's time (requested_at, generated_at; status, course_id)."""
    from passcompass_assets.core.db.engine import get_engine

    query = (
        "SELECT q.request_id, q.course_id, q.status, q.requested_at, r.generated_at FROM report_requests q "
        "LEFT JOIN report_tasks t ON t.request_id = q.request_id LEFT JOIN reports r ON r.report_id = t.report_id"
    )
    with get_engine(database_url).connect() as conn:
        frame = pd.read_sql_query(query, conn)
    for column in ("requested_at", "generated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
    return frame


def finished_count(database_url: str) -> int:
    from passcompass_assets.core.db.engine import get_engine

    with get_engine(database_url).connect() as conn:
        return int(
            conn.exec_driver_sql("SELECT count(*) FROM report_requests WHERE status != 'requested'").scalar_one()
        )


def ui_seconds(platform: Platform) -> float:
    """What the Dagster UI's asset page asks first about the report asset: its partitions and latest events."""
    query = """query { assetNodeOrError(assetKey: {path: ["period_reports"]}) { ... on AssetNode {
        partitionStats { numMaterialized numPartitions numFailed }
        assetMaterializations(limit: 1) { runId timestamp }
        assetObservations(limit: 25) { runId timestamp } } } }"""
    started = time.perf_counter()
    page = httpx.get(f"{platform.dagster}/assets/period_reports", timeout=60)
    answer = httpx.post(f"{platform.dagster}/graphql", json={"query": query}, timeout=60)
    seconds = time.perf_counter() - started
    errors = answer.json().get("errors") if answer.status_code == 200 else answer.text[:300]
    if page.status_code != 200 or errors:
        raise SystemExit(
            f"the Dagster UI did not answer: page {page.status_code}, GraphQL {answer.status_code} {errors}"
        )
    return seconds


@dataclass
class DayResult:
    posted: float
    wall: float
    p50: float
    p95: float
    on_demand: float
    peak_mb: float
    ui: float
    failed: int


def report_day(home: Path, database_url: str, courses: int, timeout: float) -> DayResult:
    platform = Platform(home, database_url).start()
    try:
        # One connection pool for every request, as a client script of the university's would hold.
        client = httpx.Client(base_url=platform.api, headers=admin_headers(database_url), timeout=120)
        names = [f"course-{i}" for i in range(courses)]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: request(client, name), names))
        posted = time.perf_counter() - started
        on_demand_at: float | None = None
        on_demand_id = ""
        while True:  # a cheap count while the platform works; the times are read once at the end
            made = finished_count(database_url)
            if on_demand_at is None and made >= courses // 2:
                on_demand_at, on_demand_id = time.perf_counter(), request(client, ON_DEMAND_COURSE)
            if on_demand_at is not None and made == courses + 1:
                break
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"{made} of {courses + 1} reports after {timeout:.0f} s: {platform.log_tail()}")
            time.sleep(2)
        state = finished(database_url)
        done = state[state["status"] != "requested"]
        wall = (done["generated_at"].max() - done["requested_at"].min()).total_seconds()
        ours = done[done["request_id"] == on_demand_id].iloc[0]
        latency = (done["generated_at"] - done["requested_at"]).dt.total_seconds().dropna()
        on_demand = (ours["generated_at"] - ours["requested_at"]).total_seconds()
        return DayResult(
            posted=posted,
            wall=wall,
            p50=percentile(latency.tolist(), 50),
            p95=percentile(latency.tolist(), 95),
            on_demand=on_demand,
            peak_mb=platform.peak_mb,
            ui=ui_seconds(platform),
            failed=int((done["status"] == "failed").sum()),
        )
    finally:
        platform.stop()


def stored_rows(database_url: str, course_id: str) -> pd.DataFrame:
    """A course's students as the platform's report reads them on the report day."""
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.periods import find_period
    from passcompass_assets.core.records import scoring_rows

    engine = get_engine(database_url)
    period = find_period(engine, SNAPSHOT_PERIOD)
    assert period is not None
    return scoring_rows(engine, course_id, period, date.today())


def in_process(home: Path, database_url: str, courses: int, workers: int = 2) -> float:
    """The scoring benchmark's path for the same courses' students as stored (score, build, store the files), in
    ``workers`` processes; reading the students is not timed."""
    names = [f"course-{i}" for i in range(courses)]
    # Spawned, not forked: a forked worker would share this process's pooled database connections.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        parts = list(pool.map(partial(stored_rows, database_url), names, chunksize=50))
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(home,)) as pool:
        list(pool.map(_report_in_worker, parts, chunksize=16))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--data", type=Path, default=UCI_DIR, help="folder with student-mat.csv and student-por.csv")
    parser.add_argument("--train-rows", type=int, help="train on this many UCI rows per course (default: all)")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if not (args.data / "student-mat.csv").exists():
        raise SystemExit(f"UCI Student Performance files not found in {args.data} (see ../shared/data/README.md)")
    with fresh_home(args.database, "pc_report_day") as (home, database_url):
        started = time.perf_counter()
        prepare(home, database_url, args.courses, args.students, args.data, args.train_rows)
        print(f"set-up (not timed): champion and {args.courses + 1:,} courses in {time.perf_counter() - started:.0f} s")
        day = report_day(home, database_url, args.courses, args.timeout)
        baseline = in_process(home, database_url, args.courses)
    ratio = day.wall / baseline
    print_table(
        f"A report day: {args.courses:,} courses x {args.students} students, {args.database} (seconds)",
        ["measure", "value", "target"],
        [
            [f"API: {args.courses:,} requests posted (8 clients)", day.posted, "-"],
            ["platform: first request to last report stored", day.wall, "-"],
            ["platform: p50 request to report", day.p50, "-"],
            ["platform: p95 request to report", day.p95, "-"],
            ["on-demand request in the middle: to its report", day.on_demand, ON_DEMAND_TARGET],
            ["platform: peak memory of its processes (MB)", day.peak_mb, "-"],
            ["Dagster UI: the report asset's answer after the day", day.ui, UI_TARGET],
            ["baseline: the same reports in process, 2 workers", baseline, "-"],
            ["platform / baseline", ratio, RATIO_TARGET],
            ["reports failed", day.failed, 0],
        ],
    )
    print(machine_note())
    missed = [
        what
        for what, bad in (
            ("ratio", ratio > RATIO_TARGET),
            ("on-demand", day.on_demand > ON_DEMAND_TARGET),
            ("UI", day.ui > UI_TARGET),
            ("5,000 courses", args.courses >= 5000 and args.database == "sqlite" and day.wall > FIVE_THOUSAND_TARGET),
        )
        if bad
    ]
    if day.failed:
        print(f"{day.failed} report(s) failed")
        return 1
    print(f"targets: {'MISSED: ' + ', '.join(missed) if missed else 'met'}")
    return TARGET_MISSED if missed else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
