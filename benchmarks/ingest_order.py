"""Out-of-order ingestion: many small uploads of one course applied in arrival order, then the same uploads applied
in shuffled order, both ``--workers`` at a time (Dagster's ``max_concurrent_runs``), on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.ingest_order [--uploads N] [--students S] [--workers W] [--databases ...]

Each upload is what an LMS pushing every few minutes sends: a few dozen of the course's students, dated, with a
few activity columns. An upload applied after a newer one of the same course must leave the state as if every
upload had been applied in arrival order (``core/ingest/apply.py``); the benchmark prints, per order, the wall
time, how many newer uploads shared students and columns with an upload applied after them (replays: the
students' rows were made again), how many applies failed with ``database is locked``
(each retried, as the upload sensor would), and whether it ended in the state of applying the uploads one at a
time in arrival order (the reference, measured first in the same run).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from benchmarks._common import machine_note, postgres_server_url, print_table, temp_postgres_database

ACTIVITY = ("lms_logins", "attendance_rate", "assignment_completion", "quiz_average", "absences")
RETRIES = 20  # attempts per upload before the benchmark gives up on it


@dataclass
class OrderResult:
    order: str
    seconds: float = 0.0
    replays: int = 0
    lock_failures: int = 0
    given_up: int = 0
    state: list[tuple[object, ...]] | None = None


def make_uploads(count: int, students: int, per_upload: int, seed: int) -> list[bytes]:
    """``count`` CSV files of one course in arrival order: each ``per_upload`` random students, dated a day
    further every ``count // 60`` files, with two or three activity columns."""
    rng = random.Random(seed)
    start = date(2026, 9, 7)
    per_day = max(1, count // 60)
    files = []
    for i in range(count):
        columns = rng.sample(ACTIVITY, rng.randint(2, 3))
        day = start + timedelta(days=i // per_day)
        lines = [",".join(["user_id", "course_id", "period_id", "as_of_date", *columns])]
        for student in rng.sample(range(students), per_upload):
            values = [str(rng.randint(0, 40)) if c in ("lms_logins", "absences") else f"{rng.uniform(0, 1):.3f}"
                      for c in columns]  # fmt: skip
            lines.append(",".join([f"s{student:05d}", "bench-101", "2026-autumn", day.isoformat(), *values]))
        files.append(("\n".join(lines) + "\n").encode())
    return files


def _locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc) or "deadlock detected" in str(exc)


def run_order(url: str, home: Path, files: list[bytes], order: str, workers: int, seed: int) -> OrderResult:
    import sqlalchemy as sa

    from benchmarks._common import declare_snapshot_period
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.db.tables import student_records
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore
    from passcompass_assets.core.ingest.uploads import receive_upload

    upgrade(url)
    declare_snapshot_period(url)  # the files' term ("2026-autumn"): uploads name declared periods only
    engine = get_engine(url)
    store = LandingStore(home / "landing")
    ids = [receive_upload(engine, store, content).upload_id for content in files]
    if order == "shuffled":  # the runs start in any order (retries, a backlog), still ``workers`` at a time
        random.Random(seed).shuffle(ids)
    result = OrderResult(order)

    def apply(upload_id: str) -> tuple[int, int, bool]:
        failures = 0
        for _ in range(RETRIES):
            try:
                return apply_upload(engine, store, upload_id).replayed_uploads, failures, False
            except sa.exc.OperationalError as exc:
                if not _locked(exc):
                    raise
                failures += 1
        return 0, failures, True

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for replayed, failures, given_up in pool.map(apply, ids):
            result.replays += replayed
            result.lock_failures += failures
            result.given_up += given_up
    result.seconds = time.perf_counter() - started
    columns = [c for c in student_records.c if c.name not in ("updated_at", "source_upload_id")]
    with engine.connect() as conn:
        result.state = [tuple(row) for row in conn.execute(sa.select(*columns).order_by(*student_records.primary_key))]
    return result


@contextmanager
def database(kind: str, folder: Path, label: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{label}.db'}"
    else:
        with temp_postgres_database(prefix="pc_bench_order") as url:
            yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=600, help="uploads of the course (default 600)")
    parser.add_argument("--students", type=int, default=300, help="students of the course (default 300)")
    parser.add_argument("--per-upload", type=int, default=25, help="students in each upload (default 25)")
    parser.add_argument("--workers", type=int, default=4, help="applies at a time (default 4)")
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgres"), default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    databases = args.databases or (["sqlite", "postgres"] if postgres_server_url() else ["sqlite"])
    per_upload = min(args.per_upload, args.students)
    files = make_uploads(args.uploads, args.students, per_upload, args.seed)
    print(f"{args.uploads} uploads of one course ({per_upload} of {args.students} students each), "
          f"{args.workers} at a time; {machine_note()}")  # fmt: skip
    rows = []
    for kind in databases:
        results = []
        # The reference: one at a time in arrival order, the state the other two must end in.
        for order, workers in (("one at a time", 1), ("in order", args.workers), ("shuffled", args.workers)):
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp), order.replace(" ", "_")) as url:
                results.append(run_order(url, Path(tmp), files, order, workers, args.seed))
        for result in results:
            per_upload_ms = 1000 * result.seconds / max(1, args.uploads)
            same = "yes" if result.state == results[0].state else "NO"
            rows.append(
                [kind, result.order, result.seconds, per_upload_ms, result.replays, result.lock_failures,
                 result.given_up, same]
            )  # fmt: skip
    print_table(
        "Applying the uploads (wall time; replays: newer uploads an upload applied after them shared students and "
        "columns with; lock failures retried)",
        [
            "database",
            "order",
            "seconds",
            "ms/upload",
            "replays",
            "lock failures",
            "given up",
            "same state as one at a time",
        ],
        rows,
    )
    if any(row[-1] != "yes" for row in rows):
        raise SystemExit("FAILED: an order ended in another state than applying the uploads one at a time")


if __name__ == "__main__":
    main()
