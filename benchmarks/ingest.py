"""Ingestion benchmark: a generated snapshot CSV (default 1,000,000 rows x 30 catalog columns) through validation,
landing and the upsert into ``student_records``, on PostgreSQL and SQLite, beside baselines measured in the same
run: ``pandas.DataFrame.to_sql`` of the same rows, and PostgreSQL ``COPY`` of the same file into an unindexed table
(the floor). Then the same students again with new values (an update) is timed too.

    .venv/bin/python -m benchmarks.ingest [--rows N] [--repeat R] [--databases postgres sqlite]

Each measured pipeline runs in its own process, so its peak resident memory is its own. PostgreSQL comes from
``PASSCOMPASS_TEST_POSTGRES_URL`` or the local server on 127.0.0.1:5432; the benchmark creates and drops its
databases. The machine is shared: medians over ``--repeat`` runs, and ratios against the baselines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import (
    SNAPSHOT_COLUMNS,
    csv_bytes,
    declare_snapshot_period,
    machine_note,
    median,
    peak_rss_mb,
    print_table,
    snapshot_table,
    temp_postgres_database,
)

TARGET_ROWS_PER_S = 100_000
TARGET_COPY_RATIO = 3.0
TARGET_PEAK_MB = 1024


# --- child processes: one measured pipeline each -----------------------------------------------------------------


def _timed(timings: dict[str, float], name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def run_pipeline(url: str, snapshot: Path, update: Path, home: Path) -> dict[str, Any]:
    """receive (read, validate, land, register) and apply, for the snapshot and then for the update."""
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade
    from passcompass_assets.core.ingest import uploads as uploads_module
    from passcompass_assets.core.ingest.apply import apply_upload
    from passcompass_assets.core.ingest.landing import LandingStore

    upgrade(url)
    declare_snapshot_period(url)
    engine = get_engine(url)
    store = LandingStore(home / "landing")
    result: dict[str, Any] = {"rss_before_mb": peak_rss_mb()}
    validate_csv, put = uploads_module.validate_csv, store.put
    for label, path in (("insert", snapshot), ("update", update)):
        timings: dict[str, float] = {}
        # The stages inside receive_upload, timed where they are called.
        uploads_module.validate_csv = _timed(timings, "validate", validate_csv)
        store.put = _timed(timings, "land", put)  # type: ignore[method-assign]
        started = time.perf_counter()
        content = path.read_bytes()
        receipt = uploads_module.receive_upload(engine, store, content)
        del content
        timings["receive"] = time.perf_counter() - started
        started = time.perf_counter()
        applied = apply_upload(engine, store, receipt.upload_id)
        timings["apply"] = time.perf_counter() - started
        timings["end_to_end"] = timings["receive"] + timings["apply"]
        result[label] = timings | {"rows": applied.student_rows}
    uploads_module.validate_csv = validate_csv
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def run_copy_floor(url: str, snapshot: Path) -> dict[str, Any]:
    """PostgreSQL COPY of the raw file into an unindexed table with the same column types: the floor."""
    from passcompass_assets.core.db.engine import get_engine
    from passcompass_assets.core.db.migrate import upgrade

    upgrade(url)
    columns = ", ".join(f'"{c}"' for c in SNAPSHOT_COLUMNS)
    with get_engine(url).begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE copy_floor AS SELECT {columns} FROM student_records WITH NO DATA")
    started = time.perf_counter()
    with get_engine(url).begin() as conn, snapshot.open("rb") as source:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.copy_expert(f"COPY copy_floor ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL '')", source)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def run_to_sql(url: str, snapshot: Path) -> dict[str, Any]:
    """``pandas.read_csv`` + ``DataFrame.to_sql`` of the same rows into a new table (pandas' own bulk path:
    ``method="multi"`` on SQLite is slower than the default executemany, so the default is used)."""
    import pandas as pd

    from passcompass_assets.core.db.engine import get_engine

    engine = get_engine(url)
    started = time.perf_counter()
    frame = pd.read_csv(snapshot)
    frame.to_sql("to_sql_baseline", engine, index=False, chunksize=50_000)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


CHILDREN = {"pipeline": run_pipeline, "copy": run_copy_floor, "to_sql": run_to_sql}


def child(kind: str, url: str, *paths: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its peak memory is that process's own."""
    command = [sys.executable, "-m", "benchmarks.ingest", "--child", kind, url, *paths]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} on {url.split('@')[-1]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the run -------------------------------------------------------------------------------------------------


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = folder / f"bench_{time.monotonic_ns()}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with temp_postgres_database() as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are printed")
    parser.add_argument("--databases", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, url, *paths = args.child
        with tempfile.TemporaryDirectory(prefix="pc_bench_home_") as home:
            extra = (Path(home),) if kind == "pipeline" else ()
            print(json.dumps(CHILDREN[kind](url, *map(Path, paths), *extra)))
        return 0

    with tempfile.TemporaryDirectory(prefix="pc_bench_") as tmp:
        folder = Path(tmp)
        snapshot, update = folder / "snapshot.csv", folder / "update.csv"
        started = time.perf_counter()
        snapshot.write_bytes(csv_bytes(snapshot_table(args.rows, seed=0)))
        update.write_bytes(csv_bytes(snapshot_table(args.rows, seed=1)))  # same students, new values
        size_mb = snapshot.stat().st_size / 1e6
        print(
            f"{args.rows:,} rows x {len(SNAPSHOT_COLUMNS)} columns: {size_mb:.0f} MB CSV "
            f"(generated in {time.perf_counter() - started:.1f} s); {args.repeat} run(s) per measurement"
        )

        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):
            for kind in args.databases:
                with database(kind, folder) as url:
                    runs.setdefault(f"pipeline:{kind}", []).append(child("pipeline", url, str(snapshot), str(update)))
                with database(kind, folder) as url:
                    runs.setdefault(f"to_sql:{kind}", []).append(child("to_sql", url, str(snapshot)))
                if kind == "postgres":
                    with database(kind, folder) as url:
                        runs.setdefault("copy:postgres", []).append(child("copy", url, str(snapshot)))
        return report(args.rows, size_mb, runs)


def report(rows: int, size_mb: float, runs: dict[str, list[dict[str, Any]]]) -> int:
    def med(key: str, *path: str) -> float:
        values = []
        for run in runs.get(key, []):
            for step in path:
                run = run[step]
            values.append(float(run))  # type: ignore[arg-type]
        return median(values)

    table = []
    missed = []
    copy_s = med("copy:postgres", "seconds")
    for kind in ("postgres", "sqlite"):
        key = f"pipeline:{kind}"
        if key not in runs:
            continue
        for label in ("insert", "update"):
            e2e = med(key, label, "end_to_end")
            table.append(
                [
                    f"{kind} {label}",
                    med(key, label, "validate"),
                    med(key, label, "land"),
                    med(key, label, "receive"),
                    med(key, label, "apply"),
                    e2e,
                    rows / e2e,
                    e2e / copy_s if kind == "postgres" else float("nan"),
                    e2e / med(f"to_sql:{kind}", "seconds"),
                    med(key, "peak_rss_mb"),
                ]
            )
            if kind == "postgres":
                if rows / e2e < TARGET_ROWS_PER_S:
                    missed.append(f"PostgreSQL {label}: {rows / e2e:,.0f} rows/s < {TARGET_ROWS_PER_S:,}")
                if e2e / copy_s > TARGET_COPY_RATIO:
                    missed.append(f"PostgreSQL {label}: {e2e / copy_s:.1f}x COPY > {TARGET_COPY_RATIO}x")
        if med(key, "peak_rss_mb") > TARGET_PEAK_MB:
            missed.append(f"{kind}: peak memory {med(key, 'peak_rss_mb'):.0f} MB > {TARGET_PEAK_MB} MB")
    for kind in ("postgres", "sqlite"):
        if f"to_sql:{kind}" in runs:
            s = med(f"to_sql:{kind}", "seconds")
            ratio = s / copy_s if kind == "postgres" else float("nan")
            peak = med(f"to_sql:{kind}", "peak_rss_mb")
            table.append([f"{kind} to_sql (baseline)", *[float("nan")] * 4, s, rows / s, ratio, 1.0, peak])
    if "copy:postgres" in runs:
        peak = med("copy:postgres", "peak_rss_mb")
        table.append(["postgres COPY (floor)", *[float("nan")] * 4, copy_s, rows / copy_s, 1.0, float("nan"), peak])
    header = ["pipeline", "validate s", "land s", "receive s", "apply s", "total s", "rows/s", "x COPY", "x to_sql"]
    print_table(
        f"Ingestion of {rows:,} rows ({size_mb:.0f} MB), medians of {len(next(iter(runs.values())))} run(s); "
        "receive = read + validate + land + register",
        [*header, "peak MB"],
        table,
    )
    print(f"\nmachine: {machine_note()}")
    print("targets: PostgreSQL end to end >= 100,000 rows/s and <= 3x COPY; peak memory < 1 GB")
    for line in missed:
        print(f"MISSED: {line}")
    if not missed:
        print("all targets met" if "pipeline:postgres" in runs else "memory target met (PostgreSQL not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
