"""Counting a log store: a Moodle ``logstore_standard_log`` export of ``--rows`` events streamed through
``import_activity`` (read in chunks, each event once, counted into the daily history), then the same file sent
again (every event already counted).

    .venv/bin/python -m benchmarks.activity [--rows 2000000] [--students 10000] [--databases postgres,sqlite]

Printed per database: rows/s of the first and the repeated import, the process's peak memory (it must not grow
with the file), and the baseline measured in the same run on the same rows: a plain ``COPY`` of the file's columns
into an unindexed table on PostgreSQL (on SQLite, which has no ``COPY``, an ``executemany`` insert of them). A year
of a 10,000-student university's participating events is tens of millions of rows: the rate says how long its
one-time backfill takes.
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import psycopg2

from benchmarks._common import fresh_home, machine_note, peak_rss_mb, print_table

TERM_START = date(2026, 9, 7)
COURSES = 200
HEADER = ["id", "eventname", "component", "action", "target", "objecttable", "objectid", "crud", "edulevel",
          "contextid", "contextlevel", "contextinstanceid", "userid", "courseid", "relateduserid", "anonymous",
          "other", "timecreated", "origin", "ip", "realuserid"]  # fmt: skip
COMPONENTS = np.array(["mod_resource", "mod_quiz", "mod_assign", "mod_forum", "mod_page", "core"])


def write_log(path: Path, rows: int, students: int, seed: int = 0) -> None:
    """``rows`` events of a term (15 weeks), a tenth of them not participating, as Moodle's table holds them."""
    rng = np.random.default_rng(seed)
    start = int(datetime(TERM_START.year, TERM_START.month, TERM_START.day).timestamp())
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for first in range(0, rows, 500_000):
            n = min(500_000, rows - first)
            ids = np.arange(first, first + n) + 1
            users = rng.integers(3, students + 3, n)
            courses = users % COURSES + 2
            components = COMPONENTS[rng.integers(0, len(COMPONENTS), n)]
            edulevel = np.where(rng.random(n) < 0.9, 2, 1)
            times = start + rng.integers(0, 15 * 7 * 86400, n)
            writer.writerows(
                [i, "\\mod\\event\\viewed", c, "viewed", "course_module", "x", 7, "r", e, 40, 70, 12, u, k, "", 0,
                 "{}", t, "web", "203.0.113.9", ""]
                for i, c, e, u, k, t in zip(ids, components, edulevel, users, courses, times, strict=True)
            )  # fmt: skip


def declare(database_url: str) -> None:
    from passcompass_assets.core.courses import set_course
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.periods import Period, upsert_period

    engine = get_engine(database_url)
    upsert_period(engine, Period("2026-autumn", TERM_START, date(2026, 12, 18), 3))
    for course in range(2, COURSES + 2):
        set_course(engine, str(course), "2026-autumn", 20, 10)


def timed_import(database_url: str, path: Path) -> tuple[float, int]:
    from passcompass_assets.core.activity.store import import_activity
    from passcompass_assets.core.db.engine import get_engine

    started = time.perf_counter()
    with path.open("rb") as log:
        receipt = import_activity(get_engine(database_url), log, "moodle")
    return time.perf_counter() - started, receipt.events_counted


def baseline(database_url: str, path: Path) -> float:
    """The file's columns into a plain table: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
    started = time.perf_counter()
    if database_url.startswith("postgresql"):
        dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
        with psycopg2.connect(dsn) as conn, conn.cursor() as cursor, path.open() as source:
            columns = ", ".join(f'"{name}" text' for name in HEADER)
            cursor.execute(f"CREATE TEMP TABLE plain_log ({columns})")
            cursor.copy_expert("COPY plain_log FROM STDIN WITH (FORMAT csv, HEADER true)", source)
        return time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp, sqlite3.connect(Path(tmp) / "plain.db") as conn, path.open() as source:
        conn.execute(f"CREATE TABLE plain_log ({', '.join(HEADER)})")
        reader = csv.reader(source)
        next(reader)
        conn.executemany(f"INSERT INTO plain_log VALUES ({', '.join('?' * len(HEADER))})", reader)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--databases", default="postgres,sqlite")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logstore_standard_log.csv"
        write_log(path, args.rows, args.students)
        size_mb = path.stat().st_size / 1e6
        for database in args.databases.split(","):
            with fresh_home(database, "pc_activity") as (home, database_url):
                os.environ.update(PASSCOMPASS_HOME=str(home), PASSCOMPASS_DATABASE_URL=database_url)
                from passcompass_assets.core.db.migrate import ensure_schema

                ensure_schema(database_url)
                declare(database_url)
                first, counted = timed_import(database_url, path)
                again, recounted = timed_import(database_url, path)
                floor = baseline(database_url, path)
            results.append([database, args.rows / first, first, counted, args.rows / again, recounted, floor,
                            first / floor, peak_rss_mb()])  # fmt: skip
    print_table(
        f"Counting a Moodle log store of {args.rows:,} rows ({size_mb:.0f} MB, {args.students:,} students)",
        [
            "database",
            "rows/s",
            "seconds",
            "events counted",
            "again: rows/s",
            "again: counted",
            "baseline s",
            "x baseline",
            "peak MB",
        ],  # fmt: skip
        results,
    )
    print("baseline: COPY into an unindexed table (PostgreSQL), executemany insert (SQLite), of the same rows")
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
